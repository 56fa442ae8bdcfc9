#!/usr/bin/python3
"""Trains ringllm's embedded default model (models/ringllm-tiny-fortunes.gguf) from scratch.

A llama-architecture transformer with grouped-query attention (8 query heads, 2 KV heads) and a
Mistral-style sliding window, trained on sequences four times longer than the window with the banded
causal mask, so the window is real. Tokenizer: SentencePiece BPE trained here. Corpus: the
non-offensive fortune cookie files Debian ships in `fortunes` and `fortunes-min`.

Needs Debian's python3-torch, python3-sentencepiece and fortunes/fortunes-min (and, for speed,
libopenblas0-pthread: Debian's default reference BLAS is ~15x slower); CPU only, one thread by
default. Run as `npm run train:tiny` (about 25 minutes on one free core).
Writes, in models/:
  ringllm-tiny-fortunes.gguf   the model (F16 matrices, F32 norms), via scripts/export-tiny.ts
  tiny-validation.txt          a held-out slice in fortune format ("%" lines between entries)
  tiny-validation.json         for that slice: SentencePiece token ids and the perplexities
                               computed here (see VALIDATION PROTOCOL below)
  README.md                    the model card
Same seed, same Debian packages, same thread count: same model.

VALIDATION PROTOCOL (what test/default-model/ recomputes with ringllm):
  stream = for each entry of tiny-validation.txt: [BOS=1] + sp.encode(entry) + [EOS=2]
  split the stream into consecutive segments of exactly N tokens (the last, shorter one dropped);
  feed each segment as is (no extra BOS) from position 0, and score tokens 1..N-1 of every segment
  (the prediction of token i from tokens 0..i-1); perplexity = exp(mean negative log-likelihood).
  Done for N = 256 (the training length: the window is active) and N = 64 (= the window).
"""

import argparse
import json
import math
import os

# One BLAS thread: torch's own intra-op threads (--threads) do the parallel work; two pools oversubscribe.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import random
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import sentencepiece as spm
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FORTUNE_DIR = "/usr/share/games/fortunes"
# Every data file of Debian's `fortunes` and `fortunes-min` (never `fortunes-off`), minus ascii-art
# and art (pictures, not prose), translate-me (non-English) and ethnic (stereotype jokes).
EXCLUDED = {"ascii-art", "art", "translate-me", "ethnic"}

CONFIG = dict(
    vocab_size=2048,
    dim=192,
    n_layers=4,
    n_heads=8,
    n_kv_heads=2,
    ffn_dim=512,
    window=64,
    seq_len=256,
    rope_base=10000.0,
    rms_eps=1e-5,
    batch_size=16,
    steps=1200,
    lr=2e-3,
    min_lr=2e-4,
    warmup=50,
    weight_decay=0.1,
    val_fraction=0.05,
)
BOS, EOS = 1, 2


def read_fortunes():
    names = sorted(
        n for n in os.listdir(FORTUNE_DIR)
        if not n.endswith((".dat", ".u8")) and not os.path.islink(os.path.join(FORTUNE_DIR, n)) and n not in EXCLUDED
    )
    entries = []
    for name in names:
        with open(os.path.join(FORTUNE_DIR, name), encoding="utf-8") as f:
            lines = f.read().split("\n")
        cur = []
        for line in lines + ["%"]:
            if line == "%":
                text = "\n".join(cur).rstrip()
                if text.strip():
                    entries.append(text)
                cur = []
            else:
                cur.append(line)
    return names, entries


def train_tokenizer(entries, prefix, vocab_size, seed):
    # One training sentence per line: newlines are left to byte fallback (<0x0A>), as in Llama.
    # identity normalization and kept whitespace so that llama.cpp-style SPM tokenizers (which do
    # not normalize) give the same ids.
    sentences = [line for e in entries for line in e.split("\n") if line.strip()]
    spm.set_random_generator_seed(seed)  # BPE training on every sentence is deterministic anyway
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences),
        model_prefix=prefix,
        model_type="bpe",
        vocab_size=vocab_size,
        character_coverage=1.0,
        byte_fallback=True,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        add_dummy_prefix=True,
        allow_whitespace_only_pieces=True,
        split_digits=True,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        num_threads=1,
        minloglevel=2,
        input_sentence_size=0,
    )
    return spm.SentencePieceProcessor(model_file=prefix + ".model")


def vocab_metadata(sp):
    tokens, scores, types = [], [], []
    for i in range(sp.get_piece_size()):
        tokens.append(sp.id_to_piece(i))
        scores.append(float(sp.get_score(i)))
        if sp.is_unknown(i):
            types.append(2)
        elif sp.is_control(i):
            types.append(3)
        elif sp.is_byte(i):
            types.append(6)
        elif sp.is_unused(i):
            types.append(5)
        else:
            types.append(1)
    return tokens, scores, types


def encode_stream(sp, entries):
    out = []
    for ids in sp.encode(entries):
        out.append(BOS)
        out.extend(ids)
        out.append(EOS)
    return out


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(seq_len, head_dim, base):
    # GGUF/llama.cpp "NORM" RoPE: pairs (2i, 2i+1) rotated by p * base^(-2i/head_dim).
    inv = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    ang = torch.arange(seq_len, dtype=torch.float64)[:, None] * inv[None, :]
    return torch.cos(ang).float(), torch.sin(ang).float()


def rope_apply(x, cos, sin):
    # x: (B, H, T, head_dim); cos/sin: (T, head_dim / 2)
    x0, x1 = x[..., 0::2], x[..., 1::2]
    y0 = x0 * cos - x1 * sin
    y1 = x0 * sin + x1 * cos
    return torch.stack((y0, y1), dim=-1).flatten(-2)


def banded_mask(seq_len, window):
    # True where a query may attend: keys p-window+1 .. p (window keys, itself included).
    i = torch.arange(seq_len)[:, None]
    j = torch.arange(seq_len)[None, :]
    return (j <= i) & (j > i - window)


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, hd = c["dim"], c["dim"] // c["n_heads"]
        self.n_heads, self.n_kv, self.hd = c["n_heads"], c["n_kv_heads"], hd
        self.attn_norm = RMSNorm(d, c["rms_eps"])
        self.wq = nn.Linear(d, c["n_heads"] * hd, bias=False)
        self.wk = nn.Linear(d, c["n_kv_heads"] * hd, bias=False)
        self.wv = nn.Linear(d, c["n_kv_heads"] * hd, bias=False)
        self.wo = nn.Linear(c["n_heads"] * hd, d, bias=False)
        self.ffn_norm = RMSNorm(d, c["rms_eps"])
        self.w_gate = nn.Linear(d, c["ffn_dim"], bias=False)
        self.w_up = nn.Linear(d, c["ffn_dim"], bias=False)
        self.w_down = nn.Linear(c["ffn_dim"], d, bias=False)

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        h = self.attn_norm(x)
        q = self.wq(h).view(B, T, self.n_heads, self.hd).transpose(1, 2)
        k = self.wk(h).view(B, T, self.n_kv, self.hd).transpose(1, 2)
        v = self.wv(h).view(B, T, self.n_kv, self.hd).transpose(1, 2)
        q, k = rope_apply(q, cos, sin), rope_apply(k, cos, sin)
        # GQA as llama.cpp broadcasts it: query head h reads KV head h // (n_heads / n_kv).
        rep = self.n_heads // self.n_kv
        k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd)
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        x = x + self.wo((att @ v).transpose(1, 2).reshape(B, T, -1))
        h = self.ffn_norm(x)
        return x + self.w_down(F.silu(self.w_gate(h)) * self.w_up(h))


class TinyLlama(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.tok_emb = nn.Embedding(c["vocab_size"], c["dim"])
        self.blocks = nn.ModuleList(Block(c) for _ in range(c["n_layers"]))
        self.norm = RMSNorm(c["dim"], c["rms_eps"])
        self.output = nn.Linear(c["dim"], c["vocab_size"], bias=False)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * c["n_layers"]) if name.endswith(("wo.weight", "w_down.weight")) else 0.02
                nn.init.normal_(p, std=std)
        cos, sin = rope_tables(c["seq_len"], c["dim"] // c["n_heads"], c["rope_base"])
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        self.register_buffer("mask", banded_mask(c["seq_len"], c["window"]), persistent=False)

    def forward(self, idx):
        T = idx.shape[1]
        x = self.tok_emb(idx)
        cos, sin, mask = self.cos[:T], self.sin[:T], self.mask[:T, :T]
        for b in self.blocks:
            x = b(x, cos, sin, mask)
        return self.output(self.norm(x))


@torch.no_grad()
def segment_nll(model, stream, n):
    """Sum of NLL and count over the VALIDATION PROTOCOL's segments of n tokens."""
    model.eval()
    segs = torch.tensor(stream[: len(stream) // n * n], dtype=torch.long).view(-1, n)
    total, count = 0.0, 0
    for i in range(0, segs.shape[0], 32):
        s = segs[i:i + 32]
        logits = model(s[:, :-1]).double()
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), s[:, 1:].reshape(-1), reduction="sum").item()
        count += s[:, 1:].numel()
    model.train()
    return total, count


def lr_at(step, c):
    if step < c["warmup"]:
        return c["lr"] * (step + 1) / c["warmup"]
    t = (step - c["warmup"]) / max(1, c["steps"] - c["warmup"])
    return c["min_lr"] + 0.5 * (c["lr"] - c["min_lr"]) * (1 + math.cos(math.pi * t))


@torch.no_grad()
def sample(model, sp, prompt, n, temperature, seed):
    g = torch.Generator().manual_seed(seed)
    ids = [BOS] + sp.encode(prompt)
    model.eval()
    for _ in range(n):
        ctx = ids[-model.c["seq_len"]:]
        logits = model(torch.tensor([ctx]))[0, -1].double()
        probs = torch.softmax(logits / temperature, -1)
        nxt = int(torch.multinomial(probs, 1, generator=g))
        if nxt == EOS:
            break
        ids.append(nxt)
    model.train()
    return sp.decode(ids[1:])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "models"))
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--steps", type=int, default=CONFIG["steps"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--val-chars", type=int, default=8000, help="size of the committed validation slice")
    args = ap.parse_args()
    c = dict(CONFIG, steps=args.steps)
    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    t0 = time.time()

    files, entries = read_fortunes()
    random.Random(args.seed).shuffle(entries)
    n_val = int(len(entries) * c["val_fraction"])
    val_entries, train_entries = entries[:n_val], entries[n_val:]
    print(f"{len(entries)} fortunes from {len(files)} files: {len(train_entries)} train, {len(val_entries)} validation")

    tmp = tempfile.mkdtemp(prefix="ringllm-tiny-")
    sp = train_tokenizer(train_entries, os.path.join(tmp, "spm"), c["vocab_size"], args.seed)
    train = torch.tensor(encode_stream(sp, train_entries), dtype=torch.long)
    val = encode_stream(sp, val_entries)
    print(f"tokens: {len(train)} train, {len(val)} validation")

    model = TinyLlama(c)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"parameters: {n_params}")
    decay = [p for p in model.parameters() if p.dim() == 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": c["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
        lr=c["lr"], betas=(0.9, 0.95),
    )
    gen = torch.Generator().manual_seed(args.seed)
    T, B = c["seq_len"], c["batch_size"]
    log = []
    for step in range(c["steps"]):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, c)
        starts = torch.randint(0, len(train) - T - 1, (B,), generator=gen)
        batch = torch.stack([train[s:s + T + 1] for s in starts.tolist()])
        logits = model(batch[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 50 == 0 or step == c["steps"] - 1:
            line = f"step {step:5d}  loss {loss.item():.4f}  lr {lr_at(step, c):.2e}  {time.time() - t0:.0f}s"
            if step % 200 == 0 or step == c["steps"] - 1:
                s, n = segment_nll(model, val, T)
                line += f"  val {s / n:.4f}"
            print(line, flush=True)
            log.append(line)

    # The exported file stores matrices as F16: evaluate (and export) exactly those weights.
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.copy_(p.half().float())
    s, n = segment_nll(model, train[: 400 * T + 1].tolist(), T)
    train_loss = s / n
    s, n = segment_nll(model, val, T)
    val_loss = s / n
    print(f"final (F16 weights): train loss {train_loss:.4f}, validation loss {val_loss:.4f}, ppl {math.exp(val_loss):.3f}")

    # Committed validation slice: the first validation entries, up to val_chars characters.
    slice_entries, size = [], 0
    for e in val_entries:
        if size + len(e) > args.val_chars:
            break
        slice_entries.append(e)
        size += len(e) + 3
    slice_stream = encode_stream(sp, slice_entries)
    golden = {}
    for n_seg in (c["seq_len"], c["window"]):
        s, n = segment_nll(model, slice_stream, n_seg)
        golden[str(n_seg)] = {"segments": len(slice_stream) // n_seg, "scored": n, "nll": s / n, "perplexity": math.exp(s / n)}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "tiny-validation.txt"), "w", encoding="utf-8") as f:
        f.write("".join(e + "\n%\n" for e in slice_entries))
    with open(os.path.join(args.out, "tiny-validation.json"), "w") as f:
        json.dump({
            "about": "Produced by scripts/train-tiny.py for tiny-validation.txt: ids = for each entry [1] + "
                     "sentencepiece.encode(entry) + [2] (the SentencePiece model that is stored in the GGUF); "
                     "perplexity per segment length N follows the script's VALIDATION PROTOCOL, computed by "
                     "PyTorch (float64 log-softmax) on the F16-rounded weights that were exported.",
            "seed": args.seed,
            "ids": slice_stream,
            "perplexity": golden,
        }, f)
        f.write("\n")

    samples = []
    for i, prompt in enumerate(["The", "A man", "Life is"]):
        samples.append((prompt, sample(model, sp, prompt, 120, 0.8, args.seed + i)))
        print(f"--- sample {i}: {samples[-1][1]!r}")

    # Raw tensors + manifest for the GGUF exporter (our own writer, scripts/gguf/writer.ts).
    tokens, scores, types = vocab_metadata(sp)
    names = {"tok_emb.weight": "token_embd.weight", "norm.weight": "output_norm.weight", "output.weight": "output.weight"}
    per_block = {"attn_norm": "attn_norm", "wq": "attn_q", "wk": "attn_k", "wv": "attn_v", "wo": "attn_output",
                 "ffn_norm": "ffn_norm", "w_gate": "ffn_gate", "w_up": "ffn_up", "w_down": "ffn_down"}
    tensors = []
    for name, p in model.state_dict().items():
        if name.startswith("blocks."):
            _, l, mod, _ = name.split(".")
            gname = f"blk.{l}.{per_block[mod]}.weight"
        else:
            gname = names[name]
        a = p.detach().float().contiguous().numpy()
        file = os.path.join(tmp, gname + ".f32")
        a.tofile(file)
        # GGUF lists dimensions innermost first: a PyTorch (out, in) matrix is [in, out].
        tensors.append({"name": gname, "shape": list(reversed(a.shape)), "file": file,
                        "type": "F16" if a.ndim == 2 else "F32"})
    gguf_path = os.path.join(args.out, "ringllm-tiny-fortunes.gguf")
    manifest = {"config": c, "seed": args.seed, "tokens": tokens, "scores": scores, "token_types": types,
                "tensors": tensors, "out": gguf_path}
    with open(os.path.join(tmp, "manifest.json"), "w") as f:
        json.dump(manifest, f)
    subprocess.run(["npx", "tsx", os.path.join(ROOT, "scripts", "export-tiny.ts"), os.path.join(tmp, "manifest.json")],
                   check=True, cwd=ROOT)

    write_card(args, c, files, len(train_entries), len(val_entries), len(train), len(val), n_params, train_loss, val_loss,
               golden, samples, log, os.path.getsize(gguf_path), time.time() - t0)
    shutil.rmtree(tmp)
    print(f"done in {time.time() - t0:.0f}s")


def write_card(args, c, files, n_train, n_val, tok_train, tok_val, n_params, train_loss, val_loss, golden, samples, log, size, secs):
    hd = c["dim"] // c["n_heads"]
    sample_md = "\n\n".join(f"Prompt `{p}` (temperature 0.8, seed {args.seed + i}):\n\n```\n{t}\n```" for i, (p, t) in enumerate(samples))
    card = f"""# ringllm-tiny-fortunes

The model `ringllm generate` runs when no `--model` is given: a {n_params / 1e6:.2f} M-parameter
llama-architecture transformer trained from scratch by this repository
(`scripts/train-tiny.py`), small enough to ship inside the npm package
(`ringllm-tiny-fortunes.gguf`, {size / 1e6:.2f} MB). It writes fortune-cookie style quips, not
facts; it exists to exercise what ringllm is about — grouped-query attention and a sliding window
run by the ring-buffer KV cache — on any machine, with nothing to download.

## Shape

| | |
|---|---|
| architecture | `llama`, Mistral-style sliding window on every layer |
| layers | {c["n_layers"]} |
| embedding | {c["dim"]} |
| attention | {c["n_heads"]} query heads, {c["n_kv_heads"]} KV heads (GQA {c["n_heads"] // c["n_kv_heads"]}:1), head dim {hd} |
| sliding window | {c["window"]} keys (a query at position p sees p−{c["window"] - 1} … p) — `llama.attention.sliding_window` |
| trained sequence length | {c["seq_len"]} (`llama.context_length`), banded causal mask |
| feed-forward | SwiGLU, {c["ffn_dim"]} |
| positions | RoPE, base {c["rope_base"]:g}, adjacent-pair (GGUF "NORM") order |
| norm | RMSNorm, ε {c["rms_eps"]:g} |
| output | untied `output.weight` |
| vocabulary | {c["vocab_size"]}, SentencePiece BPE with byte fallback (`tokenizer.ggml.model = "llama"`; `<unk>` 0, `<s>` 1, `</s>` 2) |
| weights | F16 matrices, F32 norm vectors |

Generation past the window is valid: attention only ever looks {c["window"]} tokens back, so the
KV cache needs {c["window"]} slots per layer however long the text.

## Data and licence

Corpus: the fortune cookie files of Debian's `fortunes` and `fortunes-min` packages
(`/usr/share/games/fortunes`; never `fortunes-off`), from BSD `fortune(6)` / fortune-mod,
distributed under the BSD licence stated in `/usr/share/doc/fortunes/copyright` (clause 3
deleted). Files used: {", ".join(files)}. Left out: `ascii-art` and `art` (pictures), `translate-me`
(not English), `ethnic` (stereotype jokes). Quotations remain attributed to their authors as in the
files.

Entries (text between `%` lines) were shuffled with seed {args.seed}; {n_val} entries
({c["val_fraction"]:.0%}) are held out for validation, {n_train} train the model and the tokenizer.
Tokens: {tok_train} train, {tok_val} validation; each entry is `<s>` + text + `</s>`, concatenated.
`tiny-validation.txt` is the first ~{args.val_chars} characters of the held-out entries, committed for
the perplexity test. The model weights are released under the same BSD licence; ringllm's code is MIT.

## Training

```sh
sudo apt-get install python3-torch python3-sentencepiece fortunes fortunes-min libopenblas0-pthread
npm run train:tiny        # = /usr/bin/python3 scripts/train-tiny.py --seed {args.seed} --threads {args.threads}
```

CPU only, {args.threads} thread(s), {secs / 60:.0f} minutes on the machine that produced this file.
AdamW (β 0.9/0.95, weight decay {c["weight_decay"]} on matrices), learning rate {c["lr"]:g} with
{c["warmup"]} warm-up steps and cosine decay to {c["min_lr"]:g}, gradient clip 1.0, {c["steps"]} steps
of {c["batch_size"]} random windows of {c["seq_len"]} + 1 tokens ({c["steps"] * c["batch_size"] * c["seq_len"] / 1e6:.1f} M tokens).
The script writes this card, the GGUF (through `scripts/export-tiny.ts` and the project's GGUF
writer), the validation slice and `tiny-validation.json` (SentencePiece ids and the perplexities
ringllm's test must reproduce).

## Results

Measured on the F16-rounded weights that are in the file, over segments of {c["seq_len"]} tokens
(first token of each segment not scored):

| | loss (nats/token) | perplexity |
|---|---|---|
| train (first {400 * c["seq_len"]} tokens) | {train_loss:.4f} | {math.exp(train_loss):.2f} |
| validation (all held-out entries) | {val_loss:.4f} | {math.exp(val_loss):.2f} |
| `tiny-validation.txt`, segments of {c["seq_len"]} | {golden[str(c["seq_len"])]["nll"]:.4f} | {golden[str(c["seq_len"])]["perplexity"]:.3f} |
| `tiny-validation.txt`, segments of {c["window"]} | {golden[str(c["window"])]["nll"]:.4f} | {golden[str(c["window"])]["perplexity"]:.3f} |

Training log:

```
{chr(10).join(log)}
```

## Samples

From the PyTorch model at the end of training:

{sample_md}
"""
    with open(os.path.join(args.out, "README.md"), "w", encoding="utf-8") as f:
        f.write(card)


if __name__ == "__main__":
    main()
