#!/usr/bin/env python3
"""Turns a .cu unit into C++ for the CUDA simulator (README.md).

Three constructs of CUDA C++ are not C++; everything else (comments and string
literals included) is left alone, and a #line directive keeps diagnostics and
__FILE__ pointing at the original file:
  k<<<grid, block, smem, stream>>>(args)  ->  ::genrm_sim::launch("k", key_of(k), k, grid, block, smem, stream)(args)
  __shared__ T a[N], b;                   ->  auto& a = ::genrm_sim::shared_var<T[N]>("site", tag, align); ...
  extern __shared__ T s[];                ->  T* s = ::genrm_sim::dynamic_shared<T>();
usage: rewrite.py IN OUT
"""
import os
import re
import sys

TEMPLATE_KERNEL = re.compile(
    r"template\s*<[^{;]*?>\s*__global__\s+void\s+(?:__launch_bounds__\((?:[^()]|\([^()]*\))*\)\s*)?(\w+)\s*\(", re.S)
LAUNCH = re.compile(r"([A-Za-z_][\w:]*(?:<[^<>;(){}]*>)?)\s*<<<(.*?)>>>\s*\(", re.S)
EXTERN_SHARED = re.compile(r"extern\s+__shared__\s+(?:__align__\(\s*(\d+)\s*\)\s+)?([^;\[]+?)\s+(\w+)\s*\[\s*\]\s*;")
SHARED = re.compile(r"__shared__\s+(?:__align__\(\s*(\d+)\s*\)\s+)?([^;]*?);")
COMMENT_OR_STRING = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S)
DECLARATOR = re.compile(r"\s*(\w+)\s*((?:\[[^\]]+\]\s*)*)$")
TYPE_AND_FIRST = re.compile(r"^(.*?[\w>:])\s+(\w+\s*(?:\[[^\]]+\]\s*)*)$", re.S)


def rewrite(text, origin):
    templates = set(TEMPLATE_KERNEL.findall(text))

    def launch(m):
        kernel, config = m.group(1), m.group(2)
        if kernel in templates:  # template arguments deduced from the call: no address to take
            return f'::genrm_sim::launch("{kernel}", nullptr, [&](auto... a) {{ {kernel}(a...); }}, {config})('
        return f'::genrm_sim::launch("{kernel}", ::genrm_sim::key_of({kernel}), {kernel}, {config})('

    def extern_shared(m):
        align, type_, name = m.group(1), m.group(2).strip(), m.group(3)
        return f"{type_}* {name} = ::genrm_sim::dynamic_shared<{type_}>();"

    def shared(m):
        align, body = m.group(1), m.group(2)
        line = text.count("\n", 0, m.start()) + 1
        # "T a[N], b[M]": the type ends where the first declarator begins.
        parts = [p for p in split_top_level(body)]
        head = TYPE_AND_FIRST.match(parts[0].strip())
        if not head:
            raise SystemExit(f"{origin}:{line}: cannot read the __shared__ declaration '{body}'")
        type_, declarators = head.group(1), [head.group(2)] + parts[1:]
        out = []
        for i, d in enumerate(declarators):
            dm = DECLARATOR.match(d)
            if not dm:
                raise SystemExit(f"{origin}:{line}: cannot read the __shared__ declarator '{d}'")
            name, dims = dm.group(1), dm.group(2).replace(" ", "")
            site = f'"{origin}:{line}:{name}"'
            # The lambda's static is one object per declaration and, in a template,
            # per instantiation: the key of this variable's block-wide allocation.
            tag = "[] { static const char k = 0; return &k; }()"
            out.append(f"auto& {name} = ::genrm_sim::shared_var<{type_}{dims}>({site}, {tag}, {align or 0});")
        return " ".join(out)

    # Comments and string literals are set aside first, so a comment that names
    # these constructs is left as it is (placeholders keep their newlines, so
    # line numbers stay right).
    kept = []

    def keep(m):
        kept.append(m.group(0))
        return f"\0{len(kept) - 1}" + "\n" * m.group(0).count("\n") + "\0"

    text = COMMENT_OR_STRING.sub(keep, text)
    text = re.sub(r"\bstatic\s+(?=__shared__)", "", text)  # block-wide already; `static auto&` would bind once
    text = EXTERN_SHARED.sub(extern_shared, text)
    text = SHARED.sub(shared, text)
    text = LAUNCH.sub(launch, text)
    text = re.sub(r"\0(\d+)\n*\0", lambda m: kept[int(m.group(1))], text)
    return f'#line 1 "{origin}"\n' + text


def split_top_level(s):
    """Splits on commas outside brackets and template angle brackets."""
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch in "[<(":
            depth += 1
        elif ch in "]>)":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


def main():
    src, dst = sys.argv[1], sys.argv[2]
    origin = sys.argv[3] if len(sys.argv) > 3 else src
    with open(src, encoding="utf-8") as f:
        text = f.read()
    out = rewrite(text, origin)
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    with open(dst, "w", encoding="utf-8") as f:
        f.write(out)


if __name__ == "__main__":
    main()
