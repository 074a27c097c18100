"""PyTorch reference for bench/gpu/bench_cuda.cpp: the same rows, measured the way
the reference measurements (docs/performance.md, "Targets") were: SDPA attention (flash; cuDNN for
information), the naive DPO log-prob step (full logits), bf16 GEMM, the 125M
Llama training step in eager mode with bf16 autocast and AdamW, and sampling
from that model with transformers' generate().

    python3 torch_reference.py OUT.json [--budget SECONDS] [--only SECTION,...] [--smoke]

Every row is measured in its own try block: a failure becomes that row's
"error" and the rest go on. --smoke shrinks every shape (and runs on the CPU
when there is no GPU) to check the script itself, not to measure anything.
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

GIB = float(2**30)


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--budget", type=float, default=70.0, help="seconds for all rows; later rows are skipped past it")
    p.add_argument("--only", default="", help="comma-separated sections: device,gemm,attention,dpo_logprob,train,generate")
    p.add_argument("--smoke", action="store_true")
    return p.parse_args()


ARGS = parse_args()
DEV = "cuda" if torch.cuda.is_available() else "cpu"
CUDA = DEV == "cuda"
START = time.perf_counter()


def sync():
    if CUDA:
        torch.cuda.synchronize()


def timed(fn, warm=3, reps=20, budget_s=1.5):
    """Median ms over reps after warm-up; cudaEvents on the GPU, like the anchor."""
    t0 = time.perf_counter()
    for i in range(warm):
        if i and time.perf_counter() - t0 > budget_s / 2:
            break
        fn()
    sync()
    ts = []
    t1 = time.perf_counter()
    while len(ts) < reps:
        if CUDA:
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            fn()
            b.record()
            b.synchronize()
            ts.append(a.elapsed_time(b))
        else:
            s = time.perf_counter()
            fn()
            ts.append((time.perf_counter() - s) * 1e3)
        if time.perf_counter() - t1 > budget_s:
            break
    ts.sort()
    n = len(ts)
    med = ts[n // 2] if n % 2 else 0.5 * (ts[n // 2 - 1] + ts[n // 2])
    return {"ms": med, "min_ms": ts[0], "reps": n}


def log(msg):
    print(f"[torch] {msg}", file=sys.stderr, flush=True)


def run_row(row, fn):
    """Fills row by fn(row); an exception (or the spent budget) becomes row['error']."""
    if time.perf_counter() - START > ARGS.budget:
        row["error"] = "skipped: the reference's time budget was spent"
        return row
    try:
        fn(row)
    except Exception as e:  # one row's failure must not stop the others
        row["error"] = f"{type(e).__name__}: {e}"[:400]
        log(f"error: {row['error']}")
    finally:
        if CUDA:
            torch.cuda.empty_cache()
    return row


# ---- GEMM ----

def gemm_rows():
    rows = []
    n = 1024 if ARGS.smoke else 8192

    def square(row):
        a = torch.randn(n, n, device=DEV, dtype=torch.bfloat16)
        b = torch.randn(n, n, device=DEV, dtype=torch.bfloat16)
        t = timed(lambda: torch.matmul(a, b))
        row.update(ms=t["ms"], min_ms=t["min_ms"], reps=t["reps"], tflops=2 * n**3 / t["ms"] / 1e9)
        log(f"gemm bf16 {n}^3: {t['ms']:.3f} ms, {row['tflops']:.1f} TFLOP/s")

    rows.append(run_row({"name": "bf16 8192^3", "engine": "torch", "m": n, "n": n, "k": n, "storage": "bf16"}, square))
    m, nn_, k = (1024, 256, 128) if ARGS.smoke else (16384, 2048, 768)

    def linear(row):
        # The 125M model's MLP up-projection forward as the training step runs
        # it: fp32 master weights and activations, bf16 autocast (casts included).
        x = torch.randn(m, k, device=DEV)
        w = torch.randn(nn_, k, device=DEV)

        def f():
            with torch.autocast(device_type=DEV, dtype=torch.bfloat16):
                return F.linear(x, w)

        t = timed(f)
        row.update(ms=t["ms"], min_ms=t["min_ms"], reps=t["reps"], tflops=2 * m * nn_ * k / t["ms"] / 1e9)
        log(f"gemm fp32-storage {m}x{nn_}x{k} autocast: {t['ms']:.3f} ms, {row['tflops']:.1f} TFLOP/s")

    rows.append(run_row({"name": "fp32-storage 16384x2048x768", "engine": "torch", "m": m, "n": nn_, "k": k,
                         "storage": "f32", "autocast": "bf16"}, linear))
    return rows


# ---- attention ----

def attention_rows():
    cfgs = [(4, 16, 1024, 64), (4, 16, 2048, 128), (2, 16, 4096, 128)]
    if ARGS.smoke:
        cfgs = [(1, 2, 128, 64)]
    rows = []
    for B, H, T, D in cfgs:
        def measure(row, B=B, H=H, T=T, D=D):
            from torch.nn.attention import SDPBackend, sdpa_kernel  # PyTorch >= 2.3

            q = torch.randn(B, H, T, D, device=DEV, dtype=torch.bfloat16, requires_grad=True)
            k = torch.randn_like(q, requires_grad=True)
            v = torch.randn_like(q, requires_grad=True)
            g = torch.randn_like(q)
            flops_f = 4 * B * H * T * T * D * 0.5  # causal: half the score matrix

            def one(backend):
                with sdpa_kernel(backend):
                    fwd = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True)
                    tf = timed(fwd)
                    # Gradients accumulate into q/k/v.grad across reps, as in the anchor.
                    tfb = timed(lambda: fwd().backward(g))
                return {"fwd_ms": tf["ms"], "fwd_tflops": flops_f / tf["ms"] / 1e9,
                        "fwdbwd_ms": tfb["ms"], "fwdbwd_tflops": 3.5 * flops_f / tfb["ms"] / 1e9}

            row.update(backend="flash", **one(SDPBackend.FLASH_ATTENTION))
            log(f"attention B{B} H{H} T{T} D{D} flash: fwd {row['fwd_ms']:.3f} ms, fwd+bwd {row['fwdbwd_ms']:.3f} ms")
            try:  # information only (cuDNN is a later target)
                row["cudnn"] = one(SDPBackend.CUDNN_ATTENTION)
            except Exception as e:
                row["cudnn"] = {"error": f"{type(e).__name__}: {e}"[:200]}

        rows.append(run_row({"B": B, "H": H, "T": T, "D": D, "causal": True, "dtype": "bf16"}, measure))
    return rows


# ---- log-prob + DPO step, naive ----

def dpo_rows():
    cfgs = [(8, 1024, 4096, 128256), (16, 512, 2048, 32000)]
    if ARGS.smoke:
        cfgs = [(2, 64, 64, 1000)]
    rows = []
    for B, T, d, V in cfgs:
        def measure(row, B=B, T=T, d=d, V=V):
            h = (torch.randn(2 * B, T, d, device=DEV, dtype=torch.bfloat16) * 0.05).requires_grad_(True)
            W = (torch.randn(V, d, device=DEV, dtype=torch.bfloat16) * 0.02).requires_grad_(True)
            y = torch.randint(0, V, (2 * B, T), device=DEV)
            ref = torch.randn(2 * B, device=DEV)

            def step():
                logits = (h @ W.t()).float()  # the whole [2B, T, V] in fp32
                lp = torch.gather(logits.log_softmax(-1), -1, y.unsqueeze(-1)).squeeze(-1).sum(-1)
                # Pairs (2p, 2p+1), the order bench_cuda.cpp uses.
                pc, pr = lp[0::2], lp[1::2]
                loss = -F.logsigmoid(0.1 * ((pc - ref[0::2]) - (pr - ref[1::2]))).mean()
                loss.backward()

            # Baseline after the inputs exist, as gpu_torch.py: the gradients of h
            # and W (bf16, made by the first backward) and every temporary count.
            if CUDA:
                sync()
                torch.cuda.reset_peak_memory_stats()
                base = torch.cuda.memory_allocated()
            t = timed(step, warm=2, reps=5, budget_s=3.0)
            flops = 3 * 2 * (2 * B * T) * d * V
            row.update(step_ms=t["ms"], min_ms=t["min_ms"], reps=t["reps"], tflops=flops / t["ms"] / 1e9)
            grads = (h.numel() + W.numel()) * h.element_size()
            row["grads_GiB"] = grads / GIB
            if CUDA:
                peak = torch.cuda.max_memory_allocated() - base
                row.update(peak_extra_GiB=peak / GIB, workspace_GiB=(peak - grads) / GIB)
            log(f"dpo naive B{B} T{T} d{d} V{V}: {t['ms']:.2f} ms, peak extra {row.get('peak_extra_GiB', float('nan')):.2f} GiB")
            del h, W, y, ref

        rows.append(run_row({"B": B, "T": T, "d": d, "V": V, "method": "naive"}, measure))
    return rows


# ---- the 125M Llama training step ----

class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate(x, cos, sin):
    # HF convention: the head dim's two halves rotate against each other.
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat((-x2, x1), dim=-1) * sin


class Layer(nn.Module):
    def __init__(self, d, heads, kv_heads, ff):
        super().__init__()
        self.heads, self.kv_heads, self.hd = heads, kv_heads, d // heads
        self.attn_norm, self.mlp_norm = RMSNorm(d), RMSNorm(d)
        self.wq = nn.Linear(d, heads * self.hd, bias=False)
        self.wk = nn.Linear(d, kv_heads * self.hd, bias=False)
        self.wv = nn.Linear(d, kv_heads * self.hd, bias=False)
        self.wo = nn.Linear(heads * self.hd, d, bias=False)
        self.gate = nn.Linear(d, ff, bias=False)
        self.up = nn.Linear(d, ff, bias=False)
        self.down = nn.Linear(ff, d, bias=False)

    def forward(self, x, cos, sin):
        B, T, _ = x.shape
        h = self.attn_norm(x)
        q = self.wq(h).view(B, T, self.heads, self.hd).transpose(1, 2)
        k = self.wk(h).view(B, T, self.kv_heads, self.hd).transpose(1, 2)
        v = self.wv(h).view(B, T, self.kv_heads, self.hd).transpose(1, 2)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        rep = self.heads // self.kv_heads  # grouped-query heads, expanded as the anchor did
        k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        if hasattr(F, "scaled_dot_product_attention"):
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:  # PyTorch 1.x (only --smoke on the CPU reaches this)
            s = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd)
            mask = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)
            a = s.masked_fill(mask, float("-inf")).softmax(-1) @ v
        x = x + self.wo(a.transpose(1, 2).reshape(B, T, -1))
        h = self.mlp_norm(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Llama(nn.Module):
    def __init__(self, V, d, L, heads, kv_heads, ff, T, theta=10000.0):
        super().__init__()
        self.embed = nn.Embedding(V, d)
        self.layers = nn.ModuleList(Layer(d, heads, kv_heads, ff) for _ in range(L))
        self.norm = RMSNorm(d)
        self.lm_head = nn.Linear(d, V, bias=False)  # untied
        hd = d // heads
        inv = theta ** (-torch.arange(0, hd, 2, dtype=torch.float32) / hd)
        ang = torch.outer(torch.arange(T, dtype=torch.float32), inv)
        ang = torch.cat((ang, ang), dim=-1)
        self.register_buffer("cos", ang.cos(), persistent=False)
        self.register_buffer("sin", ang.sin(), persistent=False)

    def forward(self, ids):
        T = ids.shape[1]
        x = self.embed(ids)
        for layer in self.layers:
            x = layer(x, self.cos[:T], self.sin[:T])
        return self.lm_head(self.norm(x))


def train_rows():
    V, d, L, H, KV, ff, T, B = 32000, 768, 12, 12, 4, 2048, 1024, 16
    if ARGS.smoke:
        V, d, L, H, KV, ff, T, B = 256, 64, 2, 4, 2, 128, 64, 2

    def measure(row):
        torch.manual_seed(0)
        m = Llama(V, d, L, H, KV, ff, T).to(DEV)
        opt = torch.optim.AdamW(m.parameters(), lr=1e-4)  # weight decay 0.01, torch's default
        x = torch.randint(0, V, (B, T), device=DEV)
        y = torch.randint(0, V, (B, T), device=DEV)
        N = sum(p.numel() for p in m.parameters())
        loss_box = [0.0]

        def step():
            with torch.autocast(device_type=DEV, dtype=torch.bfloat16):
                loss = F.cross_entropy(m(x).float().view(-1, V), y.view(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sync()
            loss_box[0] = loss

        for _ in range(3):
            step()
        ts = []
        t1 = time.perf_counter()
        while len(ts) < 40 and (not ts or time.perf_counter() - t1 < 3.0):
            s = time.perf_counter()
            step()
            ts.append((time.perf_counter() - s) * 1e3)
        mean = sum(ts) / len(ts)
        ts.sort()
        med = ts[len(ts) // 2]
        flops_tok = 6 * N + 6 * L * d * T  # 6N + 6LdT, as the anchor
        row.update(params=N, step_ms=med, mean_step_ms=mean, steps=len(ts), tokens_per_s=B * T / (med / 1e3),
                   tflops=flops_tok * B * T / (med * 1e9), loss=float(loss_box[0]))
        log(f"train 125M eager bf16-autocast: {med:.1f} ms/step, {row['tokens_per_s']:.0f} tokens/s")

    return [run_row({"model": "llama-125m", "V": V, "hidden": d, "layers": L, "heads": H, "kv_heads": KV, "ff": ff,
                     "T": T, "B": B, "precision": "bf16-autocast", "mode": "eager"}, measure)]


# ---- sampling: transformers generate(), as the hf_generate anchor ran it ----

def generate_rows():
    """Batch 64 only (the target's row): at batch 1 generate() takes ~6 s for
    information alone. An absent transformers package is that row's error."""
    d, L, H, KV, ff, V = (64, 2, 4, 2, 128, 512) if ARGS.smoke else (768, 12, 12, 4, 2048, 32000)
    B, prompt, new = (4, 16, 8) if ARGS.smoke else (64, 256, 128)

    def measure(row):
        from transformers import LlamaConfig, LlamaForCausalLM
        import transformers
        cfg = LlamaConfig(hidden_size=d, num_hidden_layers=L, num_attention_heads=H, num_key_value_heads=KV,
                          intermediate_size=ff, vocab_size=V, max_position_embeddings=2048)
        m = LlamaForCausalLM(cfg).to(DEV, torch.bfloat16 if CUDA else torch.float32).eval()
        x = torch.randint(0, V, (B, prompt), device=DEV)
        m.generate(x, max_new_tokens=8, do_sample=True, pad_token_id=0)
        sync()
        kw = dict(max_new_tokens=new, min_new_tokens=new, do_sample=True, temperature=1.0, top_p=0.95, pad_token_id=0)
        t = time.perf_counter()
        m.generate(x, **kw)
        sync()
        dt = time.perf_counter() - t
        row.update(transformers=transformers.__version__, params=sum(p.numel() for p in m.parameters()), s=dt,
                   new_tokens_per_s=B * new / dt)
        log(f"generate 125M batch {B}: {dt:.2f} s, {B * new / dt:.0f} new tokens/s")

    return [run_row({"model": "llama-125m", "batch": B, "prompt": prompt, "new_tokens": new, "temperature": 1.0,
                     "top_p": 0.95}, measure)]


def device_info():
    info = {"torch": torch.__version__, "device": DEV}
    if CUDA:
        p = torch.cuda.get_device_properties(0)
        info.update(name=p.name, compute_capability=f"{p.major}.{p.minor}", memory_GiB=p.total_memory / GIB,
                    multiprocessors=p.multi_processor_count, cuda=torch.version.cuda)
    return info


def finite(v):
    """JSON has no NaN or infinity: they become null."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: finite(x) for k, x in v.items()}
    if isinstance(v, list):
        return [finite(x) for x in v]
    return v


def main():
    only = [s for s in ARGS.only.split(",") if s]
    res = {"engine": "torch", "smoke": ARGS.smoke}

    def write(done):
        # After every section (temp file, rename): a caller's time limit that
        # kills the script leaves the sections measured so far.
        res.pop("complete", None)
        res.pop("wall_s", None)
        res["complete"] = done  # last in the file
        res["wall_s"] = time.perf_counter() - START
        tmp = ARGS.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(finite(res), f, indent=1, allow_nan=False, default=str)
        os.replace(tmp, ARGS.out)

    try:
        res["device"] = device_info()
    except Exception as e:
        res["device"] = {"error": f"{type(e).__name__}: {e}"[:400]}
    write(False)
    for name, fn in [("gemm", gemm_rows), ("attention", attention_rows), ("dpo_logprob", dpo_rows), ("train", train_rows),
                     ("generate", generate_rows)]:
        if only and name not in only:
            continue
        if not CUDA and not ARGS.smoke:  # full shapes on a CPU would run for many minutes
            res[name] = [{"error": "no CUDA device visible to PyTorch"}]
            continue
        try:
            res[name] = fn()
        except Exception as e:  # a section that cannot even start: one error row
            res[name] = [{"error": f"{type(e).__name__}: {e}"[:400]}]
            log(f"{name}: error: {res[name][0]['error']}")
        write(False)
    write(True)
    log(f"wrote {ARGS.out} after {res['wall_s']:.1f} s")


if __name__ == "__main__":
    main()
