"""One table of the GPU benchmark: genrm (bench_cuda.cpp's JSON) against PyTorch
(torch_reference.py's JSON), with the targets of docs/performance.md.

    python3 table.py OURS.json TORCH.json [OUT.md]

ratio > 1 always means genrm is better (faster, or less memory). A row missing
from either file, or holding an "error", is shown as such; the script itself
never fails on its inputs (exit status 0), so the run that calls it goes on.
"""
import json
import math
import sys


def load(path):
    try:
        with open(path) as f:
            d = json.load(f)
        return d if isinstance(d, dict) else {}, None
    except Exception as e:  # missing, empty or truncated file
        return {}, f"{path}: {type(e).__name__}: {e}"


def rows_of(d, section):
    v = d.get(section)
    return [r for r in v if isinstance(r, dict)] if isinstance(v, list) else []


def find(doc, section, **keys):
    for r in rows_of(doc, section):
        if all(r.get(k) == v for k, v in keys.items()):
            return r
    # A section that failed as a whole holds one bare error row.
    for r in rows_of(doc, section):
        if "error" in r and not any(k in r for k in keys):
            return r
    return None


def num(r, key):
    if not isinstance(r, dict):
        return None
    v = r.get(key)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def short(msg, n=48):
    msg = " ".join(str(msg).split())
    return msg if len(msg) <= n else msg[: n - 3] + "..."


class Table:
    def __init__(self):
        self.rows, self.notes = [], []

    def cell(self, r, key, fmt, extra=None):
        """The value's text, or why there is none."""
        if r is None:
            return "missing"
        v = num(r, key)
        if v is None:  # a row that failed part-way keeps what it measured before
            if "error" in r:
                self.notes.append(str(r["error"]))
                return "error: " + short(r["error"], 40)
            if "skipped" in r:
                return "skipped: " + short(r["skipped"], 38)
            return "missing"
        s = fmt.format(v)
        if extra:
            e = num(r, extra[0])
            if e is not None:
                s += " " + extra[1].format(e)
        return s

    def add(self, name, ours, theirs, key, fmt, higher_better, target="info", ok=None, extra=None, tkey=None):
        """ok(ours_value, theirs_value, ratio) -> bool decides PASS/MISS; None: information only."""
        a, b = num(ours, key), num(theirs, tkey or key)
        ratio = None
        if a is not None and b is not None and a > 0 and b > 0:
            ratio = a / b if higher_better else b / a
        if ok is None:
            verdict = "info"
        else:
            try:
                verdict = "PASS" if ok(a, b, ratio) else "MISS"
            except TypeError:  # a value the target needs is absent
                bad = [r for r in (ours, theirs) if r is None or "error" in r or "skipped" in r]
                verdict = "ERROR" if any(r is not None and "error" in r for r in bad) else "n/a"
        self.rows.append([name, self.cell(ours, key, fmt, extra), self.cell(theirs, tkey or key, fmt, extra),
                          "-" if ratio is None else f"{ratio:.2f}x", target, verdict])

    HEAD = ["row", "genrm", "PyTorch", "ratio", "target", "result"]

    def text(self):
        w = [max(len(str(r[i])) for r in [self.HEAD] + self.rows) for i in range(len(self.HEAD))]
        line = lambda r: "  ".join(str(c).ljust(w[i]) for i, c in enumerate(r)).rstrip()
        return "\n".join([line(self.HEAD), line(["-" * x for x in w])] + [line(r) for r in self.rows])

    def markdown(self):
        esc = lambda c: str(c).replace("|", "\\|")
        out = ["| " + " | ".join(self.HEAD) + " |", "|" + "---|" * len(self.HEAD)]
        out += ["| " + " | ".join(esc(c) for c in r) + " |" for r in self.rows]
        return "\n".join(out)


def build(ours, torch):
    t = Table()
    ms = "{:.3f} ms"
    # GEMM: information (cuBLAS where present; the own kernel against it).
    for name in ["bf16 8192^3", "fp32-storage 16384x2048x768"]:
        th = find(torch, "gemm", name=name)
        own, cub = find(ours, "gemm", name=name, engine="own"), find(ours, "gemm", name=name, engine="cublas")
        a, b = num(own, "tflops"), num(cub, "tflops")
        vs = f"info; own/cuBLAS {a / b:.2f}x" if a and b else "info"
        t.add(f"GEMM {name}, own kernel [TFLOP/s]", own, th, "tflops", "{:.1f}", True, target=vs)
        t.add(f"GEMM {name}, cuBLAS [TFLOP/s]", cub, th, "tflops", "{:.1f}", True)
    # Attention: forward for information, forward+backward against SDPA flash.
    for B, H, T, D in [(4, 16, 1024, 64), (4, 16, 2048, 128), (2, 16, 4096, 128)]:
        o, th = find(ours, "attention", B=B, H=H, T=T, D=D), find(torch, "attention", B=B, H=H, T=T, D=D)
        cfg = f"B{B} H{H} T{T} D{D}"
        t.add(f"attention fwd {cfg} vs flash", o, th, "fwd_ms", ms, False, extra=("fwd_tflops", "({:.0f} TF/s)"))
        # The target is on the default backward (deterministic), which is what a
        # model runs unless asked otherwise, and on the H200 also the faster one
        # (bench/NOTES.md, "First run on a GPU"); dQ by atomics is beside it.
        t.add(f"attention fwd+bwd, deterministic {cfg} vs flash", o, th, "fwdbwd_ms", ms, False,
              target=">= 0.8x flash", ok=lambda a, b, r: r >= 0.8, extra=("fwdbwd_tflops", "({:.0f} TF/s)"))
        t.add(f"attention fwd+bwd, atomic dQ {cfg} vs flash", o, th, "fwdbwd_atomic_ms", ms, False, tkey="fwdbwd_ms")
        cud = th.get("cudnn") if isinstance(th, dict) and isinstance(th.get("cudnn"), dict) else None
        if cud is not None:
            t.add(f"attention fwd+bwd {cfg} vs cuDNN", o, cud, "fwdbwd_ms", ms, False, target="info (later)",
                  extra=("fwdbwd_tflops", "({:.0f} TF/s)"))
    # DPO log-prob step against the naive step (full logits).
    for B, T, d, V, main in [(8, 1024, 4096, 128256, True), (16, 512, 2048, 32000, False)]:
        o, th = find(ours, "dpo_logprob", B=B, T=T, d=d, V=V), find(torch, "dpo_logprob", B=B, T=T, d=d, V=V)
        cfg = f"B{B} T{T} d{d} V{V}"
        t.add(f"DPO log-prob step {cfg} vs naive", o, th, "step_ms", "{:.2f} ms", False, target="<= 1.2x naive time",
              ok=lambda a, b, r: a <= 1.2 * b, extra=("tflops", "({:.0f} TF/s)"))
        # The target is on the anchor's own definition: everything beyond the
        # inputs, the gradients of h and W included (bf16 on both sides since
        # the engine takes grad_type); the workspace without them is beside it.
        t.add(f"DPO extra memory incl. grads (anchor def.) {cfg} [GiB]", o, th, "peak_extra_GiB", "{:.2f}", False,
              target="<= 2 GiB" if main else "info", ok=(lambda a, b, r: a <= 2.0) if main else None)
        t.add(f"DPO workspace excl. grads {cfg} [GiB]", o, th, "workspace_GiB", "{:.2f}", False)
    # Training throughput against PyTorch eager.
    th = find(torch, "train", model="llama-125m")
    for prec, targeted in [("bf16", True), ("fp32", False)]:
        o = find(ours, "train", model="llama-125m", precision=prec, deterministic=True)
        if o is None and not targeted:
            continue  # the fp32 row runs only when asked for
        t.add(f"training 125M, {prec} vs eager bf16 [tokens/s]", o, th, "tokens_per_s", "{:,.0f}", True,
              target=">= 1x eager" if targeted else "info", ok=(lambda a, b, r: r >= 1.0) if targeted else None,
              extra=("step_ms", "({:.1f} ms)"))
    o = find(ours, "train", model="llama-125m", precision="bf16", deterministic=False)
    t.add("training 125M, bf16, atomic dQ vs eager bf16 [tokens/s]", o, th, "tokens_per_s", "{:,.0f}", True,
          extra=("step_ms", "({:.1f} ms)"))
    # The shipped CUDA prebuild has no cuBLAS: the same step on the own GEMM (GENRM_CUDA_GEMM=own).
    o = find(ours, "train", model="llama-125m", precision="bf16", gemm="own")
    if o is not None:
        t.add("training 125M, bf16, own GEMM (the prebuild's) vs eager bf16 [tokens/s]", o, th, "tokens_per_s",
              "{:,.0f}", True, extra=("step_ms", "({:.1f} ms)"))
    # Sampling (a target of docs/performance.md): new tokens/s against transformers' generate().
    th = find(torch, "generate", model="llama-125m", batch=64)
    for batch in (64, 1):
        o = find(ours, "generate", model="llama-125m", batch=batch)
        t.add(f"sampling 125M batch {batch}, 256 + 128 tokens vs HF generate [new tokens/s]", o,
              th if batch == 64 else {"skipped": "measured at batch 64 only"}, "new_tokens_per_s", "{:,.0f}", True,
              target=">= 10x" if batch == 64 else "info", ok=(lambda a, b, r: r >= 10) if batch == 64 else None)
    return t


def device_line(name, d):
    dev = d.get("device") if isinstance(d.get("device"), dict) else {}
    what = dev.get("name") or dev.get("device") or "unknown device"
    if "error" in dev:
        what += f" (error: {short(dev['error'], 80)})"
    extra = f", torch {dev['torch']}" if dev.get("torch") else ""
    if d.get("complete") is False:
        extra += " (INCOMPLETE: stopped before its last row)"
    if d.get("smoke"):
        extra += " (smoke run: tiny shapes, not a measurement)"
    wall = f", {d['wall_s']:.0f} s" if isinstance(d.get("wall_s"), (int, float)) else ""
    return f"{name}: {what}{extra}{wall}"


def main(argv):
    if len(argv) < 3:
        print("usage: table.py OURS.json TORCH.json [OUT.md]", file=sys.stderr)
        return 2
    ours, e1 = load(argv[1])
    torch, e2 = load(argv[2])
    t = build(ours, torch)
    head = [device_line("genrm", ours), device_line("PyTorch", torch)]
    names = [d.get("device", {}).get("name") for d in (ours, torch) if isinstance(d.get("device"), dict)]
    if len(names) == 2 and all(names) and names[0] != names[1]:
        head.append("WARNING: different devices; ratios are not comparable")
    head += [f"could not read {e}" for e in (e1, e2) if e]
    errors = list(dict.fromkeys(t.notes))  # full texts of the errors shortened in the table
    foot = [f"error {i + 1}: {e}" for i, e in enumerate(errors)]
    passed = sum(r[-1] == "PASS" for r in t.rows)
    judged = sum(r[-1] in ("PASS", "MISS", "ERROR", "n/a") for r in t.rows)
    summary = f"targets met: {passed} of {judged} (ratio > 1: genrm better)"
    print("\n".join(head + ["", t.text(), "", summary] + foot))
    if len(argv) > 3:
        try:
            with open(argv[3], "w") as f:
                f.write("\n".join([f"- {h}" for h in head] + ["", t.markdown(), "", summary, ""] +
                                  [f"- {x}" for x in foot] + [""]))
        except OSError as e:
            print(f"could not write {argv[3]}: {e}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except Exception as e:  # never stop the script that calls it
        print(f"table.py: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(0)
