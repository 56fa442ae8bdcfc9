#!/usr/bin/python3
"""Trains ringllm's passkey-recall model (models/ringllm-recall-passkey.gguf) from scratch.

A tiny llama-architecture transformer (GQA 2:1, head dim 32, full causal attention, no sliding
window) trained on synthetic key-value recall that fits its own context: random filler words with
`K=V` facts spread through them, then questions `ask K`, each answered with the value V of the fact
about K. It is the model bench/recall.mjs measures KV policies with (issue 18): a fact that left a
bounded cache can only be answered if the policy kept or retrieved it.

Vocabulary (no tokenizer training; the bench feeds ids): <unk> 0, <s> 1, </s> 2, "▁ask" 3, N_KEYS
keys "▁k00".., N_VALUES values "▁v00".., N_FILLER filler words "▁f000".., then one token per fact
"▁k00=v00".. (N_KEYS x N_VALUES). A fact token's embedding is trained as the sum of a key part and a
value part (exported as the plain table): a fact is one position, so one attention step can find
it by its key and read its value — a 2-layer model this small learns that in minutes, where a
two-token `K V` pair needs an induction circuit that forms only after far longer training.
A training sequence: BOS, then SEQ_LEN tokens of filler in which PAIRS facts are placed at random
places, and QUESTIONS questions about facts already seen placed after them. Loss only on each
question's answer (the token after `ask K`).

Needs Debian's python3-torch and python3-sentencepiece (train-tiny.py's model code is reused); CPU
only. Same seed, same packages, same thread count: same model. Run:
  nice -n 19 python3 scripts/train-recall.py [--steps N] [--threads N]
Writes models/ringllm-recall-passkey.gguf (via scripts/export-tiny.ts) and models/RECALL.md.
"""

import importlib.util
import json
import math
import os
import random
import shutil
import subprocess
import tempfile
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_spec = importlib.util.spec_from_file_location("train_tiny", os.path.join(ROOT, "scripts", "train-tiny.py"))
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)

N_KEYS, N_VALUES, N_FILLER = 64, 64, 128
ASK = 3
K0 = 4
V0 = K0 + N_KEYS
F0 = V0 + N_VALUES
P0 = F0 + N_FILLER  # fact (k, v): P0 + k * N_VALUES + v
VOCAB = P0 + N_KEYS * N_VALUES

CONFIG = dict(
    vocab_size=VOCAB,
    dim=128,
    n_layers=2,
    n_heads=4,
    n_kv_heads=2,
    ffn_dim=256,
    window=128,  # = seq_len: full causal attention (export-tiny.ts writes no sliding window)
    seq_len=128,
    rope_base=10000.0,
    rms_eps=1e-5,
    batch_size=32,
    steps=3000,
    lr=1e-3,
    min_lr=1e-4,
    warmup=200,
    weight_decay=0.05,
    pairs=8,
    questions=8,
)


class FactEmbedding(nn.Module):
    """Token embeddings where fact (k, v) = key part k + value part v (the other tokens: a table)."""

    def __init__(self, dim):
        super().__init__()
        self.base = nn.Embedding(P0, dim)
        nn.init.normal_(self.base.weight, std=0.02)
        self.key = nn.Parameter(torch.randn(N_KEYS, dim) * 0.02)
        self.value = nn.Parameter(torch.randn(N_VALUES, dim) * 0.02)

    def table(self):
        facts = (self.key[:, None, :] + self.value[None, :, :]).reshape(N_KEYS * N_VALUES, -1)
        return torch.cat([self.base.weight, facts])

    def forward(self, idx):
        return F.embedding(idx, self.table())


def tokens():
    t = ["<unk>", "<s>", "</s>", "\u2581ask"]
    t += [f"\u2581k{i:02d}" for i in range(N_KEYS)] + [f"\u2581v{i:02d}" for i in range(N_VALUES)]
    t += [f"\u2581f{i:03d}" for i in range(N_FILLER)]
    t += [f"\u2581k{k:02d}=v{v:02d}" for k in range(N_KEYS) for v in range(N_VALUES)]
    assert len(t) == VOCAB
    return t


def make_sequence(rng, c):
    """(ids, weights) of one training sequence of seq_len + 1 tokens (BOS first)."""
    T = c["seq_len"]
    ids = [1] + [F0 + rng.randrange(N_FILLER) for _ in range(T)]
    w = [0] * (T + 1)
    keys = rng.sample(range(N_KEYS), c["pairs"])
    # slots of 3 tokens: a fact (its first token), or a question `ask K V` about a fact before it
    starts = sorted(rng.sample(range(0, (T - 2) // 3), c["pairs"] + c["questions"]))
    slots = [1 + 3 * s for s in starts]
    placed = []
    for s in slots:
        asked = [p for p in placed if p[2] <= s]
        if len(placed) < c["pairs"] and (not asked or rng.random() < 0.6):
            k, v = keys[len(placed)], rng.randrange(N_VALUES)
            ids[s] = P0 + k * N_VALUES + v
            placed.append((k, v, s + 1))
        elif asked:
            k, v, _ = rng.choice(asked)
            ids[s:s + 3] = [ASK, K0 + k, V0 + v]
            w[s + 2] = 1
    return ids[:T + 1], w[:T + 1]


def answer_logits(model, x, w):
    """Logits at the positions whose next token is an answer (the output layer only runs there)."""
    T = x.shape[1]
    h = model.tok_emb(x)
    for b in model.blocks:
        h = b(h, model.cos[:T], model.sin[:T], model.mask[:T, :T])
    return model.output(model.norm(h[w > 0]))


def batch(rng, c, n):
    seqs = [make_sequence(rng, c) for _ in range(n)]
    return torch.tensor([s[0] for s in seqs]), torch.tensor([s[1] for s in seqs], dtype=torch.float32)


@torch.no_grad()
def accuracy(model, rng, c, n=256):
    model.eval()
    x, w = batch(rng, c, n)
    pred = answer_logits(model, x[:, :-1], w[:, 1:]).argmax(-1)
    ok = (pred == x[:, 1:][w[:, 1:] > 0]).float().mean()
    model.train()
    return ok.item()


def main():
    ap = tiny.base_args(__doc__.split("\n")[0], CONFIG["steps"])
    ap.add_argument("--minutes", type=float, default=25.0, help="stop training after this long (then export)")
    args = ap.parse_args()
    c = dict(CONFIG, steps=args.steps)
    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    t0 = time.time()
    model = tiny.TinyLlama(c)
    model.tok_emb = FactEmbedding(c["dim"])
    n_params = sum(p.numel() for p in model.parameters())
    print(f"parameters: {n_params}", flush=True)
    opt = tiny.make_optimizer(model, c)
    log = []
    step = 0
    for step in range(c["steps"]):
        for group in opt.param_groups:
            group["lr"] = tiny.lr_at(step, c)
        x, w = batch(rng, c, c["batch_size"])
        loss = F.cross_entropy(answer_logits(model, x[:, :-1], w[:, 1:]), x[:, 1:][w[:, 1:] > 0])
        tiny.optimizer_step(opt, model, loss)
        if step % 100 == 0 or step == c["steps"] - 1:
            line = f"step {step:5d}  loss {loss.item():.4f}  acc {accuracy(model, random.Random(7), c):.3f}  {time.time() - t0:.0f}s"
            print(line, flush=True)
            log.append(line)
        if time.time() - t0 > args.minutes * 60:
            print(f"time limit: stopped after step {step}", flush=True)
            break
    with torch.no_grad():
        table = model.tok_emb.table().half().float()  # what the GGUF holds
        model.tok_emb = torch.nn.Embedding.from_pretrained(table, freeze=True)
    tiny.round_matrices_f16(model)
    acc = accuracy(model, random.Random(99), c, 1024)
    print(f"final (F16 weights): answer accuracy {acc:.4f} on 1024 held-out sequences", flush=True)

    tmp = tempfile.mkdtemp(prefix="ringllm-recall-")
    tensors = tiny.write_tensors(model, tmp)
    toks = tokens()
    gguf_path = os.path.join(args.out, "ringllm-recall-passkey.gguf")
    manifest = {"config": c, "seed": args.seed, "tokens": toks, "scores": [0.0] * VOCAB,
                "token_types": [2, 3, 3] + [1] * (VOCAB - 3), "tensors": tensors, "out": gguf_path,
                "name": "ringllm-recall-passkey", "license": "MIT",
                "description": "ringllm's passkey-recall test model: key-value recall over random filler; see models/RECALL.md",
                "source": "scripts/train-recall.py"}
    with open(os.path.join(tmp, "manifest.json"), "w") as f:
        json.dump(manifest, f)
    subprocess.run(["npx", "tsx", os.path.join(ROOT, "scripts", "export-tiny.ts"), os.path.join(tmp, "manifest.json")],
                   check=True, cwd=ROOT)
    shutil.rmtree(tmp)
    with open(os.path.join(args.out, "RECALL.md"), "w") as f:
        f.write(f"""# ringllm-recall-passkey

A {n_params / 1e6:.2f} M-parameter llama-architecture model trained from scratch by `scripts/train-recall.py`
(seed {args.seed}, {step + 1} steps of {c["batch_size"]} sequences, {(time.time() - t0) / 60:.0f} minutes on the CPU) on synthetic
key-value recall. It exists to measure KV-cache policies (bench/recall.mjs, README "Long context"):
whether a fact that left the attention window can still be answered.

| | |
|---|---|
| layers | {c["n_layers"]}, embedding {c["dim"]}, feed-forward {c["ffn_dim"]} (SwiGLU) |
| attention | {c["n_heads"]} query heads, {c["n_kv_heads"]} KV heads, head dim {c["dim"] // c["n_heads"]}, full causal (no sliding window) |
| trained sequence length | {c["seq_len"]} (`llama.context_length`) |
| positions | RoPE base {c["rope_base"]:g}, GGUF "NORM" order |
| vocabulary | {VOCAB}: `<unk>` 0, `<s>` 1, `</s>` 2, `▁ask` {ASK}, keys `▁k00..` from {K0}, values `▁v00..` from {V0}, filler `▁f000..` from {F0}, facts `▁k00=v00..` from {P0} (id {P0} + key x {N_VALUES} + value; feed ids: the pieces are labels, not a trained tokenizer) |
| task | filler words; fact tokens `K=V`; `▁ask K` answered by V (loss on the answers only) |
| weights | F16 matrices, F32 norms |

Held-out answer accuracy with F16 weights, within the trained length: {acc:.4f} (chance {1 / N_VALUES:.4f}).

Training log:

```
""" + "\n".join(log) + "\n```\n")
    print(f"done in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
