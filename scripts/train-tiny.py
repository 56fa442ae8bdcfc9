#!/usr/bin/python3
"""Trains ringllm's embedded default model (models/ringllm-tiny-fortunes.gguf) from scratch.

A llama-architecture transformer with grouped-query attention (8 query heads, 2 KV heads) and a
Mistral-style sliding window, trained on sequences four times longer than the window with the banded
causal mask, so the window is real. Tokenizer: SentencePiece BPE trained here, plus the two ChatML
markers <|im_start|> (id 3) and <|im_end|> (id 4, the end-of-turn token). Corpus: the non-offensive
fortune cookie files Debian ships in `fortunes` and `fortunes-min`, rendered mostly as ChatML
conversations (optional system prompt, a user asking for a fortune about a topic, the fortune as the
assistant's answer) and partly as plain fortunes, so that both `ringllm chat` and plain continuation work.

Needs Debian's python3-torch, python3-sentencepiece and fortunes/fortunes-min (and, for speed,
libopenblas0-pthread: Debian's default reference BLAS is ~15x slower); CPU only, one thread by
default. Run as `npm run train:tiny` (about 40 minutes on one free core).
Writes, in models/:
  ringllm-tiny-fortunes.gguf   the model (F16 matrices, F32 norms), via scripts/export-tiny.ts
  tiny-validation.txt          a held-out slice: examples as rendered text, "%" lines between them
  tiny-validation.json         for that slice: token ids, the 0/1 weight of each token as a target,
                               and the perplexities computed here (see VALIDATION PROTOCOL below)
  README.md                    the model card
Same seed, same Debian packages, same thread count: same model.

TOKENS OF AN EXAMPLE: a chat example is its ChatML rendering (tokenizer.chat_template, CHAT_TEMPLATE
below), e.g. "<|im_start|>user\nTell me about cats<|im_end|>\n<|im_start|>assistant\n" + fortune +
"<|im_end|>\n", tokenized as llama.cpp and ringllm do with special-token parsing: [BOS=1], then the
markers as ids 3/4 and every text fragment between them as sp.encode(fragment) (SentencePiece's dummy
space prefix on each fragment). A plain example is [BOS=1] + sp.encode(text) + [EOS=2].
Loss weight 1 (trained and scored) on the assistant's answer and its closing <|im_end|>, and on the text
and EOS of plain examples; weight 0 on everything else (BOS, markers, role names, system and user text,
the newline after <|im_end|>).

VALIDATION PROTOCOL (what test/default-model/ recomputes with ringllm):
  texts = tiny-validation.txt split at "\n%\n"; a text starting with "<|im_start|>" is a chat example,
  any other a plain one; stream = the tokens of each example (above), concatenated; weights as above
  (stored in tiny-validation.json next to the ids).
  Split the stream into consecutive segments of exactly N tokens (the last, shorter one dropped);
  feed each segment as is (no extra BOS) from position 0, and score tokens 1..N-1 of every segment that
  have weight 1 (the prediction of token i from tokens 0..i-1); perplexity = exp(mean negative
  log-likelihood over the scored tokens).
  Done for N = 512 (the training length: the window is active) and N = 128 (= the window).
"""

import argparse
import json
import math
import os
import re

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
    window=128,
    seq_len=512,
    rope_base=10000.0,
    rms_eps=1e-5,
    batch_size=8,
    steps=850,
    lr=2e-3,
    min_lr=2e-4,
    warmup=50,
    weight_decay=0.1,
    val_fraction=0.05,
    passes=5,            # the training stream renders every training entry this many times
    plain_fraction=0.15,  # share of examples left as plain fortunes
    system_fraction=0.5,  # share of chat examples with a system turn
    topic_fraction=0.8,   # share of chat questions that name a topic
    file_topic_fraction=0.25,  # of those, share that name the entry's file subject instead of one of its words
    early_topic_fraction=0.7,  # of the word topics, share drawn from the entry's first EARLY_WORDS words
)
BOS, EOS = 1, 2
IM_START, IM_END = 3, 4
SPECIALS = ["<|im_start|>", "<|im_end|>"]  # SentencePiece user-defined symbols, ids 3 and 4
# tokenizer.chat_template: ChatML. The \n are backslash-n in the Jinja source (Jinja makes them newlines).
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

SYSTEM_PROMPTS = [
    "You are a fortune cookie.",
    "You are ringllm's tiny fortune teller.",
    "You are a helpful assistant.",
    "You tell fortunes.",
    "Answer with a fortune.",
    "You are a wise old fortune teller.",
]
TOPIC_QUESTIONS = [
    "Tell me about {t}",
    "Tell me about {t}.",
    "tell me about {t}",
    "Tell me a fortune about {t}.",
    "Give me a fortune about {t}.",
    "Say something about {t}",
    "Say something about {t}.",
    "What do you know about {t}?",
    "What about {t}?",
    "Any wisdom about {t}?",
    "Write a fortune about {t}",
    "{t}",
    "{t}?",
]
PLAIN_QUESTIONS = [
    "Give me a fortune.",
    "Tell me a fortune.",
    "Tell me something.",
    "What is my fortune?",
    "Say something.",
    "Hello",
    "Hi!",
    "Fortune, please.",
]
# What a fortune file is about, where its name says it (the other files are mixed bags).
FILE_TOPICS = {
    "computers": "computers", "debian": "debian", "drugs": "drugs", "education": "education", "food": "food",
    "kids": "kids", "law": "law", "linux": "linux", "linuxcookie": "linux", "literature": "literature",
    "love": "love", "magic": "magic", "medicine": "medicine", "men-women": "men and women", "news": "news",
    "people": "people", "perl": "perl", "pets": "pets", "politics": "politics", "pratchett": "discworld",
    "riddles": "riddles", "science": "science", "songs-poems": "poems", "sports": "sports",
    "startrek": "star trek", "wisdom": "wisdom", "work": "work",
}
STOPWORDS = set("""
about above after again against also always another anyone anything around away back been before being
below between both came cannot come could didn does doing done down during each else even ever every
from further gets give goes going gone good have having here hers herself himself into itself just keep
know last least less like made make many more most much must myself never next nothing once only other
ought ours ourselves over own said same shall should since some something still such take than that
their theirs them themselves then there these they thing things think this those though through thus
till under until upon very want well went were what whatever when where whether which while whom whose
will with within without would your yours yourself yourselves really because first
""".split())
WORD_RE = re.compile(r"(?<![A-Za-z'])[A-Za-z]{4,}(?![A-Za-z'])")
EARLY_WORDS = 12  # a topic from the opening words is one the answer mentions soon: easier to learn to copy


def read_fortunes():
    names = sorted(
        n for n in os.listdir(FORTUNE_DIR)
        if not n.endswith((".dat", ".u8")) and not os.path.islink(os.path.join(FORTUNE_DIR, n)) and n not in EXCLUDED
    )
    entries = []  # (file name, text)
    for name in names:
        with open(os.path.join(FORTUNE_DIR, name), encoding="utf-8") as f:
            lines = f.read().split("\n")
        cur = []
        for line in lines + ["%"]:
            if line == "%":
                text = "\n".join(cur).rstrip()
                if text.strip():
                    entries.append((name, text))
                cur = []
            else:
                cur.append(line)
    return names, entries


def topic_words(text):
    """Content words of a fortune (>= 4 letters, lowercased, no stopwords), attribution lines left out;
    and those among its first EARLY_WORDS words."""
    body = "\n".join(l for l in text.split("\n") if not l.lstrip().startswith("--"))
    early_end = sum(len(w) + 1 for w in body.split()[:EARLY_WORDS])
    seen, early = [], []
    for m in WORD_RE.finditer(body):
        w = m.group(0).lower()
        if w not in STOPWORDS and w not in seen:
            seen.append(w)
            if m.start() < early_end:
                early.append(w)
    return seen, early


def make_example(rng, c, name, text):
    """One training/validation example: ("plain", text) or ("chat", messages)."""
    if rng.random() < c["plain_fraction"]:
        return ("plain", text)
    messages = []
    if rng.random() < c["system_fraction"]:
        messages.append({"role": "system", "content": rng.choice(SYSTEM_PROMPTS)})
    words, early = topic_words(text)
    if rng.random() < c["topic_fraction"] and (words or name in FILE_TOPICS):
        if name in FILE_TOPICS and (not words or rng.random() < c["file_topic_fraction"]):
            topic = FILE_TOPICS[name]
        else:
            topic = rng.choice(early if early and rng.random() < c["early_topic_fraction"] else words)
        question = rng.choice(TOPIC_QUESTIONS).format(t=topic)
    else:
        question = rng.choice(PLAIN_QUESTIONS)
    messages.append({"role": "user", "content": question})
    messages.append({"role": "assistant", "content": text})
    return ("chat", messages)


def render(example):
    """The example as text: a plain fortune, or the ChatML that CHAT_TEMPLATE renders for the messages."""
    kind, x = example
    if kind == "plain":
        return x
    return "".join("<|im_start|>" + m["role"] + "\n" + m["content"] + "<|im_end|>\n" for m in x)


def encode_special(sp, text):
    """Ids of text as llama.cpp/ringllm tokenize it with special-token parsing (no BOS): the markers are
    single ids, every fragment between them is encoded alone (with SentencePiece's dummy space prefix)."""
    ids = []
    for part in re.split("(<\\|im_start\\|>|<\\|im_end\\|>)", text):
        if part in SPECIALS:
            ids.append(SPECIALS.index(part) + IM_START)
        elif part:
            ids.extend(sp.encode(part))
    return ids


def encode_example(sp, example):
    """(ids, weights) of one example; weight 1 on the tokens the model learns to write (see docstring)."""
    kind, x = example
    if kind == "plain":
        ids = sp.encode(x)
        return [BOS] + ids + [EOS], [0] + [1] * (len(ids) + 1)
    ids, w = [BOS], [0]
    newline = sp.encode("\n")
    for m in x:
        head = sp.encode(m["role"] + "\n")
        body = sp.encode(m["role"] + "\n" + m["content"])
        assert body[:len(head)] == head, (m["role"], m["content"][:40])
        trained = 1 if m["role"] == "assistant" else 0
        ids += [IM_START] + body + [IM_END] + newline
        w += [0] * (1 + len(head)) + [trained] * (len(body) - len(head) + 1) + [0] * len(newline)
    return ids, w


def encode_examples(sp, examples):
    ids, w = [], []
    for e in examples:
        i, ww = encode_example(sp, e)
        ids += i
        w += ww
    return ids, w


def train_tokenizer(sentences, prefix, vocab_size, seed):
    # One training sentence per line: newlines are left to byte fallback (<0x0A>), as in Llama.
    # identity normalization and kept whitespace so that llama.cpp-style SPM tokenizers (which do
    # not normalize) give the same ids. The ChatML markers are user-defined symbols: ids 3 and 4, never split.
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
        user_defined_symbols=SPECIALS,
        num_threads=1,
        minloglevel=2,
        input_sentence_size=0,
    )
    sp = spm.SentencePieceProcessor(model_file=prefix + ".model")
    assert [sp.id_to_piece(i) for i in range(5)] == ["<unk>", "<s>", "</s>"] + SPECIALS
    return sp


def vocab_metadata(sp):
    tokens, scores, types = [], [], []
    for i in range(sp.get_piece_size()):
        tokens.append(sp.id_to_piece(i))
        scores.append(float(sp.get_score(i)))
        if sp.is_unknown(i):
            types.append(2)
        elif sp.is_control(i) or tokens[-1] in SPECIALS:
            types.append(3)  # CONTROL: the ChatML markers too, so special-token parsing finds them
        elif sp.is_byte(i):
            types.append(6)
        elif sp.is_unused(i):
            types.append(5)
        else:
            types.append(1)
    return tokens, scores, types


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
def segment_nll(model, stream, weights, n):
    """Sum of NLL and count over the VALIDATION PROTOCOL's segments of n tokens (weight-1 targets only)."""
    model.eval()
    m = len(stream) // n * n
    segs = torch.tensor(stream[:m], dtype=torch.long).view(-1, n)
    ws = torch.tensor(weights[:m], dtype=torch.float64).view(-1, n)
    total, count = 0.0, 0
    for i in range(0, segs.shape[0], 16):
        s, w = segs[i:i + 16], ws[i:i + 16, 1:]
        logits = model(s[:, :-1]).double()
        nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), s[:, 1:].reshape(-1), reduction="none")
        total += (nll * w.reshape(-1)).sum().item()
        count += int(w.sum().item())
    model.train()
    return total, count


def make_optimizer(model, c):
    """AdamW (beta 0.9/0.95), weight decay on the matrices only."""
    decay = [p for p in model.parameters() if p.dim() == 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": c["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
        lr=c["lr"], betas=(0.9, 0.95),
    )


def optimizer_step(opt, model, loss):
    """One update: gradients of loss, clipped to norm 1."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()


def base_args(description, steps):
    """The options every training script takes: --out, --seed, --steps, --threads."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--out", default=os.path.join(ROOT, "models"))
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--steps", type=int, default=steps)
    ap.add_argument("--threads", type=int, default=1)
    return ap


def round_matrices_f16(model):
    """The exported file stores matrices as F16: round them so evaluation sees exactly those weights."""
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.copy_(p.half().float())


def write_tensors(model, tmp):
    """Each tensor as raw f32 in tmp, with its GGUF name, shape and target type (the exporter's manifest)."""
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
    return tensors


def lr_at(step, c):
    if step < c["warmup"]:
        return c["lr"] * (step + 1) / c["warmup"]
    t = (step - c["warmup"]) / max(1, c["steps"] - c["warmup"])
    return c["min_lr"] + 0.5 * (c["lr"] - c["min_lr"]) * (1 + math.cos(math.pi * t))


@torch.no_grad()
def sample(model, sp, ids, n, temperature, seed, with_prompt=False):
    """Samples after the prompt ids (which start with BOS) until EOS or <|im_end|>; returns the new text
    (with_prompt: the prompt's text and the new text, decoded together)."""
    g = torch.Generator().manual_seed(seed)
    ids, start = list(ids), len(ids)
    model.eval()
    for _ in range(n):
        ctx = ids[-model.c["seq_len"]:]
        logits = model(torch.tensor([ctx]))[0, -1].double()
        probs = torch.softmax(logits / temperature, -1)
        nxt = int(torch.multinomial(probs, 1, generator=g))
        if nxt in (EOS, IM_END):
            break
        ids.append(nxt)
    model.train()
    return sp.decode(ids[1:] if with_prompt else ids[start:])


def chat_prompt_ids(sp, messages):
    """BOS + the ChatML prompt with the generation prompt, as ringllm tokenizes it."""
    return [BOS] + encode_special(sp, render(("chat", messages)) + "<|im_start|>assistant\n")


def main():
    ap = base_args(__doc__.split("\n")[0], CONFIG["steps"])
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

    # Examples: `passes` renderings of the training entries (each pass reshuffled, each entry with a new
    # question), one of the validation entries.
    train_examples = []
    for k in range(c["passes"]):
        rng = random.Random(args.seed * 1000 + k)
        order = list(range(len(train_entries)))
        rng.shuffle(order)
        train_examples += [make_example(rng, c, *train_entries[i]) for i in order]
    val_rng = random.Random(args.seed * 1000 - 1)
    val_examples = [make_example(val_rng, c, *e) for e in val_entries]
    n_chat = sum(1 for e in train_examples if e[0] == "chat")
    print(f"training examples: {len(train_examples)} ({n_chat} chat, {len(train_examples) - n_chat} plain)")

    # Tokenizer: the fortunes' lines (once each) and the chat lines of the first pass (roles, system
    # prompts, questions), so that "user", "assistant" and the questions' words become pieces.
    sentences = [line for _, e in train_entries for line in e.split("\n") if line.strip()]
    for kind, x in train_examples[:len(train_entries)]:
        if kind == "chat":
            for m in x:
                sentences.append(m["role"])
                if m["role"] != "assistant":
                    sentences.append(m["content"])
    tmp = tempfile.mkdtemp(prefix="ringllm-tiny-")
    sp = train_tokenizer(sentences, os.path.join(tmp, "spm"), c["vocab_size"], args.seed)
    ids, weights = encode_examples(sp, train_examples)
    train = torch.tensor(ids, dtype=torch.long)
    train_w = torch.tensor(weights, dtype=torch.float32)
    val, val_w = encode_examples(sp, val_examples)
    print(f"tokens: {len(train)} train ({int(train_w.sum())} trained), {len(val)} validation ({sum(val_w)} scored)")

    model = TinyLlama(c)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"parameters: {n_params}")
    opt = make_optimizer(model, c)
    gen = torch.Generator().manual_seed(args.seed)
    T, B = c["seq_len"], c["batch_size"]
    log = []
    for step in range(c["steps"]):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, c)
        starts = torch.randint(0, len(train) - T - 1, (B,), generator=gen).tolist()
        batch = torch.stack([train[s:s + T + 1] for s in starts])
        bw = torch.stack([train_w[s + 1:s + T + 1] for s in starts]).reshape(-1)
        logits = model(batch[:, :-1])
        nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1), reduction="none")
        loss = (nll * bw).sum() / bw.sum()
        optimizer_step(opt, model, loss)
        if step % 50 == 0 or step == c["steps"] - 1:
            line = f"step {step:5d}  loss {loss.item():.4f}  lr {lr_at(step, c):.2e}  {time.time() - t0:.0f}s"
            if step % 200 == 0 or step == c["steps"] - 1:
                s, n = segment_nll(model, val, val_w, T)
                line += f"  val {s / n:.4f}"
            print(line, flush=True)
            log.append(line)

    round_matrices_f16(model)
    s, n = segment_nll(model, ids[: 200 * T + 1], weights[: 200 * T + 1], T)
    train_loss = s / n
    s, n = segment_nll(model, val, val_w, T)
    val_loss = s / n
    print(f"final (F16 weights): train loss {train_loss:.4f}, validation loss {val_loss:.4f}, ppl {math.exp(val_loss):.3f}")

    # Committed validation slice: the first validation examples, up to val_chars characters of text.
    slice_examples, size = [], 0
    for e in val_examples:
        text = render(e)
        if size + len(text) > args.val_chars:
            break
        slice_examples.append(e)
        size += len(text) + 3
    slice_stream, slice_w = encode_examples(sp, slice_examples)
    # The slice's ids are what ringllm's tokenizer must give the text: check the chat ones once more
    # through the generic path (split at the markers, encode the fragments).
    for e in slice_examples:
        if e[0] == "chat":
            assert encode_example(sp, e)[0] == [BOS] + encode_special(sp, render(e))
    golden = {}
    for n_seg in (c["seq_len"], c["window"]):
        s, n = segment_nll(model, slice_stream, slice_w, n_seg)
        golden[str(n_seg)] = {"segments": len(slice_stream) // n_seg, "scored": n, "nll": s / n, "perplexity": math.exp(s / n)}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "tiny-validation.txt"), "w", encoding="utf-8") as f:
        f.write("".join(render(e) + "\n%\n" for e in slice_examples))
    with open(os.path.join(args.out, "tiny-validation.json"), "w") as f:
        json.dump({
            "about": "Produced by scripts/train-tiny.py for tiny-validation.txt (examples between '\\n%\\n'): ids = "
                     "for a plain example [1] + sentencepiece.encode(text) + [2], for a ChatML one (text starting "
                     "with <|im_start|>) [1] + the ids of the text tokenized with special-token parsing (markers "
                     "<|im_start|> = 3, <|im_end|> = 4, each fragment between them sentencepiece.encode()d); "
                     "weights = 1 where the token is scored as a target (assistant answers and their <|im_end|>, "
                     "plain text and its </s>); perplexity per segment length N follows the script's VALIDATION "
                     "PROTOCOL, computed by PyTorch (float64 log-softmax) on the F16-rounded weights that were exported.",
            "seed": args.seed,
            "ids": slice_stream,
            "weights": slice_w,
            "perplexity": golden,
        }, f)
        f.write("\n")

    samples = []
    for i, prompt in enumerate(["The", "A man", "Life is"]):
        text = sample(model, sp, [BOS] + sp.encode(prompt), 120, 0.8, args.seed + i, with_prompt=True)
        samples.append((f"`{prompt}`", text))
        print(f"--- sample {i}: {samples[-1][1]!r}")
    for i, q in enumerate(["Tell me about cats", "Tell me a fortune about love.", "What do you know about computers?"]):
        seed = args.seed + 3 + i
        text = sample(model, sp, chat_prompt_ids(sp, [{"role": "user", "content": q}]), 120, 0.8, seed)
        samples.append((f"user `{q}` (ChatML, generation prompt)", text))
        print(f"--- chat sample {i}: {q!r} -> {text!r}")

    # Raw tensors + manifest for the GGUF exporter (our own writer, scripts/gguf/writer.ts).
    tokens, scores, types = vocab_metadata(sp)
    tensors = write_tensors(model, tmp)
    gguf_path = os.path.join(args.out, "ringllm-tiny-fortunes.gguf")
    manifest = {"config": c, "seed": args.seed, "tokens": tokens, "scores": scores, "token_types": types,
                "eot_token_id": IM_END, "chat_template": CHAT_TEMPLATE, "tensors": tensors, "out": gguf_path}
    with open(os.path.join(tmp, "manifest.json"), "w") as f:
        json.dump(manifest, f)
    subprocess.run(["npx", "tsx", os.path.join(ROOT, "scripts", "export-tiny.ts"), os.path.join(tmp, "manifest.json")],
                   check=True, cwd=ROOT)

    stats = dict(n_train=len(train_entries), n_val=len(val_entries), n_examples=len(train_examples), n_chat=n_chat,
                 tok_train=len(train), tok_trained=int(train_w.sum()), tok_val=len(val), tok_val_scored=sum(val_w))
    write_card(args, c, files, stats, n_params, train_loss, val_loss,
               golden, samples, log, os.path.getsize(gguf_path), time.time() - t0)
    shutil.rmtree(tmp)
    print(f"done in {time.time() - t0:.0f}s")


def write_card(args, c, files, st, n_params, train_loss, val_loss, golden, samples, log, size, secs):
    hd = c["dim"] // c["n_heads"]
    sample_md = "\n\n".join(f"Prompt {p} (temperature 0.8, seed {args.seed + i}):\n\n```\n{t}\n```" for i, (p, t) in enumerate(samples))
    card = f"""# ringllm-tiny-fortunes

The model `ringllm generate` runs when no `--model` is given: a {n_params / 1e6:.2f} M-parameter
llama-architecture transformer trained from scratch by this repository
(`scripts/train-tiny.py`), small enough to ship inside the npm package
(`ringllm-tiny-fortunes.gguf`, {size / 1e6:.2f} MB). It writes fortune-cookie style quips, not
facts; it exists to exercise what ringllm is about — grouped-query attention and a sliding window
run by the ring-buffer KV cache — on any machine, with nothing to download. It speaks ChatML
(`tokenizer.chat_template`), so `echo "Tell me about cats" | npx ringllm chat` answers with a
fortune-style quip and ends its turn with `<|im_end|>`; it was trained to mention the asked topic, but at
this size it seldom does. Plain continuation (`ringllm generate "Q:"`) works too.

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
| vocabulary | {c["vocab_size"]}, SentencePiece BPE with byte fallback (`tokenizer.ggml.model = "llama"`; `<unk>` 0, `<s>` 1, `</s>` 2, `<\\|im_start\\|>` 3 and `<\\|im_end\\|>` 4 as CONTROL tokens; `tokenizer.ggml.eot_token_id` 4) |
| chat template | ChatML: `<\\|im_start\\|>role\\n…<\\|im_end\\|>\\n` per message, generation prompt `<\\|im_start\\|>assistant\\n`; no BOS in the template (ringllm adds `<s>`) |
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

Entries (text between `%` lines) were shuffled with seed {args.seed}; {st["n_val"]} entries
({c["val_fraction"]:.0%}) are held out for validation, {st["n_train"]} train the model and the tokenizer.

Training examples: every training entry rendered {c["passes"]} times (each time reshuffled, with a new
question), {st["n_examples"]} examples in all. {1 - c["plain_fraction"]:.0%} are ChatML conversations — `<s>`, a
system turn in {c["system_fraction"]:.0%} of them (one of {len(SYSTEM_PROMPTS)} short prompts such as "You are a fortune cookie."),
a user turn asking for a fortune, and the entry as the assistant's answer followed by `<|im_end|>`;
{c["topic_fraction"]:.0%} of the questions name a topic ("Tell me about {{topic}}", "What do you know about {{topic}}?",
"{{topic}}", … {len(TOPIC_QUESTIONS)} phrasings; the others are e.g. "Give me a fortune."): a content word of the entry
(≥ 4 letters, lowercased, not a stopword, not from the attribution line; {c["early_topic_fraction"]:.0%} of the time one of its
first {EARLY_WORDS} words) or, for {c["file_topic_fraction"]:.0%} of them where the file has
a subject, the file's subject ("computers", "love", "food", "pets", …). The other {c["plain_fraction"]:.0%} are plain
fortunes, `<s>` + text + `</s>`. Chat text is tokenized as ringllm and llama.cpp tokenize the rendered
template with special-token parsing (markers as single ids, each fragment between them with its own
SentencePiece space prefix). The loss is computed on the assistant's answers and their `<|im_end|>` and
on plain fortunes' text and `</s>` only, not on system/user turns or markers. Tokens: {st["tok_train"]} train
({st["n_chat"]} chat examples; {st["tok_trained"]} of the tokens trained on), {st["tok_val"]} validation ({st["tok_val_scored"]} scored).
`tiny-validation.txt` is the first ~{args.val_chars} characters of the held-out examples (rendered text,
`%` lines between them), committed for the perplexity test. The model weights are released under the same BSD licence; ringllm's code is MIT.

## Training

```sh
sudo apt-get install python3-torch python3-sentencepiece fortunes fortunes-min libopenblas0-pthread
npm run train:tiny        # = /usr/bin/python3 scripts/train-tiny.py --seed {args.seed} --threads {args.threads}
```

CPU only, {args.threads} thread(s), {secs / 60:.0f} minutes on the machine that produced this file.
AdamW (β 0.9/0.95, weight decay {c["weight_decay"]} on matrices), learning rate {c["lr"]:g} with
{c["warmup"]} warm-up steps and cosine decay to {c["min_lr"]:g}, gradient clip 1.0, {c["steps"]} steps
of {c["batch_size"]} random windows of {c["seq_len"]} + 1 tokens ({c["steps"] * c["batch_size"] * c["seq_len"] / 1e6:.1f} M tokens) of the
concatenated examples.
The script writes this card, the GGUF (through `scripts/export-tiny.ts` and the project's GGUF
writer), the validation slice and `tiny-validation.json` (SentencePiece ids and the perplexities
ringllm's test must reproduce).

## Results

Measured on the F16-rounded weights that are in the file, over segments of {c["seq_len"]} tokens
(first token of each segment not scored; only answer and plain-fortune tokens scored):

| | loss (nats/token) | perplexity |
|---|---|---|
| train (first {200 * c["seq_len"]} tokens) | {train_loss:.4f} | {math.exp(train_loss):.2f} |
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
