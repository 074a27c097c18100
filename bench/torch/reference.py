#!/usr/bin/python3
"""PyTorch references for `genrm bench`, timed on the same machine in the same run.

Reads one JSON request on stdin and prints one JSON result on stdout:
  {"threads": 2,
   "attention": [{"B": 2, "H": 8, "T": 1024, "D": 64}],
   "train": [{"vocab": 256, "hidden": 128, "layers": 4, "heads": 4, "kv_heads": 2, "ff": 344, "T": 256, "B": 8}],
   "generate": [{"vocab": 256, "hidden": 128, "layers": 4, "heads": 4, "kv_heads": 2, "ff": 344,
                 "prompt": 256, "new": 64, "batch": 1}],
   "min_seconds": 3.0}
Attention is causal forward+backward (scaled_dot_product_attention when this
PyTorch has it, else the masked-softmax formulation). Training is the same
Llama-style model as genrm's (RMSNorm, HF-convention RoPE, grouped-query
attention, SwiGLU, untied head), fp32, cross-entropy over every position, AdamW.
Generation decodes with a key/value cache (prefill the prompt once, then one
token per step for the whole batch, sampling at temperature 1) under no_grad.
"""
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def timed(fn, min_seconds, warmup=2, min_runs=3):
    for _ in range(warmup):
        fn()
    runs = []
    start = time.perf_counter()
    while len(runs) < min_runs or time.perf_counter() - start < min_seconds:
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    runs.sort()
    return runs[len(runs) // 2], len(runs)


def causal_attention(q, k, v):
    if hasattr(F, "scaled_dot_product_attention"):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    T = q.shape[-2]
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    mask = torch.ones(T, T, dtype=torch.bool).triu(1)
    return scores.masked_fill(mask, float("-inf")).softmax(-1) @ v


def bench_attention(c, min_seconds):
    B, H, T, D = c["B"], c["H"], c["T"], c["D"]
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(B, H, T, D, generator=g, requires_grad=True) for _ in range(3))
    dout = torch.randn(B, H, T, D, generator=g)

    def step():
        q.grad = k.grad = v.grad = None
        causal_attention(q, k, v).backward(dout)

    median, runs = timed(step, min_seconds)
    return {**c, "median_ms": median * 1e3, "runs": runs}


class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate(x, cos, sin):
    half = x.shape[-1] // 2
    return x * cos + torch.cat([-x[..., half:], x[..., :half]], -1) * sin


def attend_cached(q, k_cache, v_cache, n):
    """One new query position per sequence against the first n cached positions."""
    scores = (q @ k_cache[:, :, :n].transpose(-1, -2)) / math.sqrt(q.shape[-1])
    return scores.softmax(-1) @ v_cache[:, :, :n]


class Block(nn.Module):
    def __init__(self, d, heads, kv_heads, ff, eps):
        super().__init__()
        self.heads, self.kv_heads, self.hd = heads, kv_heads, d // heads
        self.norm1, self.norm2 = RMSNorm(d, eps), RMSNorm(d, eps)
        self.q = nn.Linear(d, heads * self.hd, bias=False)
        self.k = nn.Linear(d, kv_heads * self.hd, bias=False)
        self.v = nn.Linear(d, kv_heads * self.hd, bias=False)
        self.o = nn.Linear(heads * self.hd, d, bias=False)
        self.gate = nn.Linear(d, ff, bias=False)
        self.up = nn.Linear(d, ff, bias=False)
        self.down = nn.Linear(ff, d, bias=False)

    def step(self, x, cos, sin, cache, pos):
        """x: [B, 1, d] at position pos; appends to cache = (k [B, KV, T, D], v)."""
        B = x.shape[0]
        h = self.norm1(x)
        q = rotate(self.q(h).view(B, 1, self.heads, self.hd).transpose(1, 2), cos, sin)
        k = rotate(self.k(h).view(B, 1, self.kv_heads, self.hd).transpose(1, 2), cos, sin)
        v = self.v(h).view(B, 1, self.kv_heads, self.hd).transpose(1, 2)
        cache[0][:, :, pos] = k[:, :, 0]
        cache[1][:, :, pos] = v[:, :, 0]
        group = self.heads // self.kv_heads
        kc, vc = cache[0].repeat_interleave(group, 1), cache[1].repeat_interleave(group, 1)
        a = attend_cached(q, kc, vc, pos + 1).transpose(1, 2).reshape(B, 1, -1)
        x = x + self.o(a)
        h = self.norm2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))

    def forward(self, x, cos, sin):
        B, T, _ = x.shape
        h = self.norm1(x)
        q = self.q(h).view(B, T, self.heads, self.hd).transpose(1, 2)
        k = self.k(h).view(B, T, self.kv_heads, self.hd).transpose(1, 2)
        v = self.v(h).view(B, T, self.kv_heads, self.hd).transpose(1, 2)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        group = self.heads // self.kv_heads
        k, v = k.repeat_interleave(group, 1), v.repeat_interleave(group, 1)
        a = causal_attention(q, k, v).transpose(1, 2).reshape(B, T, -1)
        x = x + self.o(a)
        h = self.norm2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Llama(nn.Module):
    def __init__(self, vocab, d, layers, heads, kv_heads, ff, T, eps=1e-5, theta=10000.0):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.blocks = nn.ModuleList(Block(d, heads, kv_heads, ff, eps) for _ in range(layers))
        self.norm = RMSNorm(d, eps)
        self.head = nn.Linear(d, vocab, bias=False)
        hd = d // heads
        inv = 1.0 / theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd)
        ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None]
        ang = torch.cat([ang, ang], -1)
        self.register_buffer("cos", ang.cos().float())
        self.register_buffer("sin", ang.sin().float())

    def forward(self, ids):
        x = self.embed(ids)
        T = ids.shape[1]
        for block in self.blocks:
            x = block(x, self.cos[:T], self.sin[:T])
        return self.head(self.norm(x))


def bench_generate(c, min_seconds):
    torch.manual_seed(0)
    T = c["prompt"] + c["new"]
    model = Llama(c["vocab"], c["hidden"], c["layers"], c["heads"], c["kv_heads"], c["ff"], T).eval()
    B, hd = c["batch"], c["hidden"] // c["heads"]
    prompt = torch.randint(0, c["vocab"], (1, c["prompt"]))
    P = c["prompt"]

    def prefill():
        # The prompt once; its keys and values are copied to every sample.
        caches = []
        x = model.embed(prompt)
        for block in model.blocks:
            h = block.norm1(x)
            k = rotate(block.k(h).view(1, P, block.kv_heads, hd).transpose(1, 2), model.cos[:P], model.sin[:P])
            v = block.v(h).view(1, P, block.kv_heads, hd).transpose(1, 2)
            kc = torch.zeros(B, block.kv_heads, T, hd)
            vc = torch.zeros(B, block.kv_heads, T, hd)
            kc[:, :, :P] = k
            vc[:, :, :P] = v
            caches.append((kc, vc))
            x = block(x, model.cos[:P], model.sin[:P])
        logits = model.head(model.norm(x[:, -1:]))
        return caches, logits.expand(B, 1, -1)

    decode_times = []

    def run(steps):
        with torch.no_grad():
            caches, logits = prefill()
            tok = torch.multinomial(logits[:, 0].softmax(-1), 1)
            t = time.perf_counter()
            for s in range(steps - 1):
                pos = P + s
                x = model.embed(tok)
                for block, cache in zip(model.blocks, caches):
                    x = block.step(x, model.cos[pos : pos + 1], model.sin[pos : pos + 1], cache, pos)
                logits = model.head(model.norm(x))
                tok = torch.multinomial(logits[:, 0].softmax(-1), 1)
            decode_times.append(time.perf_counter() - t)

    # Long runs (seconds at batch 64) need few repetitions; the prefill-only run is short.
    # Decoding is timed inside each run: a difference of two medians taken at
    # different moments once came out near zero on a busy machine (a 0.5x "ratio").
    full, _ = timed(lambda: run(c["new"]), min_seconds / 2, warmup=1, min_runs=1)
    decode_runs = sorted(decode_times[1:])  # the warm-up run's left out
    decode = decode_runs[len(decode_runs) // 2]
    first, _ = timed(lambda: run(1), min_seconds / 2, warmup=2)
    return {**c, "full_ms": full * 1e3, "first_ms": first * 1e3, "decode_ms": decode * 1e3, "tokens_per_s": B * (c["new"] - 1) / decode}


def bench_train(c, min_seconds, min_runs):
    torch.manual_seed(0)
    model = Llama(c["vocab"], c["hidden"], c["layers"], c["heads"], c["kv_heads"], c["ff"], c["T"])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ids = torch.randint(0, c["vocab"], (c["B"], c["T"]))

    def step():
        logits = model(ids)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, c["vocab"]), ids[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    median, runs = timed(step, min_seconds, min_runs=min_runs)
    params = sum(p.numel() for p in model.parameters())
    return {**c, "params": params, "median_ms": median * 1e3, "runs": runs, "tokens_per_s": c["B"] * c["T"] / median}


def main():
    req = json.load(sys.stdin)
    torch.set_num_threads(int(req.get("threads", 1)))
    min_seconds = float(req.get("min_seconds", 3.0))
    min_runs = int(req.get("min_runs", 3))
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "attention": [], "train": [], "generate": []}
    for c in req.get("attention", []):
        out["attention"].append(bench_attention(c, min_seconds))
    for c in req.get("train", []):
        out["train"].append(bench_train(c, min_seconds, min_runs))
    for c in req.get("generate", []):
        out["generate"].append(bench_generate(c, min_seconds))
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
