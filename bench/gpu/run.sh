#!/usr/bin/env bash
# The GPU machine's check, in one run (it has nvcc, cmake, cuBLAS and PyTorch,
# but no Node and no network; bench/gpu/prepare.sh packs Node, the npm packages,
# dist/ and the CPU addon into .device/ beforehand). In order, each step going
# on whatever the one before gave:
#   1. build: the CUDA addon (with cuBLAS when the toolkit has it), the C++
#      harness and the benchmark, in one CMake tree;
#   2. parity: every CUDA kernel and the whole model against the CPU engine
#      (GENRM_REQUIRE_CUDA=1: a missing device is a failure, not a skip);
#      Then the CPU engine's own cases on this machine's CPU: CI's machines have
#      2 cores, this one many (the thread pool's races show only there);
#   3. the benchmark against PyTorch, one table (bench/gpu/table.py);
#   4. the Node suite with GENRM_DEVICE=cuda (models on the GPU) in fp32
#      precision, whose numbers the CPU fixtures' tolerances expect; the bf16
#      path's tolerances are the harness's. pack.test.ts is left out: it needs npm.
#      It goes last, with what is left of --deadline (seconds for the whole run,
#      default 560): device time is scarce, and the table matters more;
#   5. with the time still left, compute-sanitizer's memcheck over the kernel
#      groups (global reads and writes out of bounds: what the simulator cannot
#      see), one group at a time, kernels first; the groups it reached are named.
# Logs, JSON and the table go to $OUT (or ./gpu-out). Exit status: 0 only when
# everything passed.
#   bash bench/gpu/run.sh [--skip-node] [--skip-bench] [--skip-memcheck] [--deadline SECONDS]
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
out=${OUT:-$root/gpu-out}
mkdir -p "$out"
jobs=$(nproc 2>/dev/null || echo 8)
build=$root/build-gpu
start=$(date +%s)
skip_node=0 skip_bench=0 skip_memcheck=0 deadline=560
while [[ $# -gt 0 ]]; do
  case $1 in
    --skip-node) skip_node=1 ;;
    --skip-bench) skip_bench=1 ;;
    --skip-memcheck) skip_memcheck=1 ;;
    --deadline) deadline=$2; shift ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
declare -A result
stamp() { echo "   ($(( $(date +%s) - start )) s)"; }

echo "== device"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

echo "== unpack Node and the packages from .device/"
have_node=0
if [[ -f .device/node.xz ]]; then
  mkdir -p /tmp/genrm-node/bin
  xz -dc .device/node.xz >/tmp/genrm-node/bin/node && chmod +x /tmp/genrm-node/bin/node
  export PATH=/tmp/genrm-node/bin:$PATH
  [[ -d node_modules ]] || xz -dc .device/node_modules.tar.xz | tar -xf -
  [[ -d dist ]] || xz -dc .device/dist.tar.xz | tar -xf -
  mkdir -p build/Release && cp .device/cpu-genrm.node build/Release/genrm.node
  node --version && have_node=1
else
  echo "no .device/ (run bench/gpu/prepare.sh first and carry .device): building without the Node addon"
fi
stamp

echo "== build"
addon=OFF
[[ $have_node == 1 ]] && addon=ON
# Code for this GPU only: a third of the compile time of the shipped sm_80/sm_90/PTX set.
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DGENRM_CUDA=ON -DGENRM_ADDON=$addon -DGENRM_CUDA_ARCHITECTURES="${CUDA_ARCH:-native}" \
  -DCMAKE_JS_INC="$root/.device/node-include" -DGENRM_NATIVE_TESTS=ON -DGENRM_CUDA_BENCH=ON >"$out/cmake.log" 2>&1
cmake --build "$build" --parallel "$jobs" >>"$out/cmake.log" 2>&1
result[build]=$?
grep -E "error|warning: .*(spill|stack)" "$out/cmake.log" | head -40
grep -E "^-- genrm" "$out/cmake.log" || true
if [[ $addon == ON && -f $build/genrm.node ]]; then
  mkdir -p cuda-addon/build/Release && cp "$build/genrm.node" cuda-addon/build/Release/genrm.node
fi
stamp

echo "== parity: CUDA kernels and the model vs the CPU engine"
# One process per group: a kernel that faults leaves its CUDA context unusable,
# and would otherwise fail every case after it. (The CPU cases ran in CI.)
if [[ -x $build/genrm_native_tests ]]; then
  result[parity]=0
  : >"$out/parity.log"
  # Groups: the first two words of every CUDA case's name (cuda_gemm, cuda_model...), from
  # the harness's own list, so a new case cannot be left out.
  groups=$("$build/genrm_native_tests" --list | grep '^cuda_' | cut -d_ -f1-2 | awk '!seen[$0]++')
  for group in $groups; do
    GENRM_REQUIRE_CUDA=1 timeout 60 "$build/genrm_native_tests" "$group" >"$out/parity.$group.log" 2>&1
    rc=$?
    cat "$out/parity.$group.log" >>"$out/parity.log"
    grep -vE "^  ok " "$out/parity.$group.log" | sed "s/^[0-9]* passed/  $group: &/"
    [[ $rc == 0 ]] || result[parity]=1
  done
  rm -f "$out"/parity.cuda_*.log  # $OUT brings back 8 files at most: parity.log holds them all
  echo "== the CPU engine's cases on this CPU ($(nproc) cores; $(grep -o -m1 'avx512f' /proc/cpuinfo || echo 'no avx512f'))" | tee -a "$out/parity.log"
  cpu_cases=$("$build/genrm_native_tests" --list | grep -v '^cuda_' | sed 's/^/=/')
  timeout 120 "$build/genrm_native_tests" $cpu_cases >"$out/parity.cpu.log" 2>&1
  rc=$?
  cat "$out/parity.cpu.log" >>"$out/parity.log"
  grep -vE "^  ok " "$out/parity.cpu.log" | sed "s/^[0-9]* passed/  cpu: &/"
  rm -f "$out/parity.cpu.log"
  [[ $rc == 0 ]] || result[parity]=1
else
  result[parity]=missing
fi
stamp

if [[ $skip_bench == 0 && -x $build/genrm_cuda_bench ]]; then
  echo "== benchmark: genrm vs PyTorch"
  timeout 150 "$build/genrm_cuda_bench" "$out/ours.json" --budget 65 2>"$out/bench.log"
  result[bench]=$?
  PYTHONUNBUFFERED=1 timeout 120 python3 bench/gpu/torch_reference.py "$out/torch.json" --budget 55 2>"$out/torch.log"
  result[torch]=$?
  python3 bench/gpu/table.py "$out/ours.json" "$out/torch.json" "$out/table.md"
  stamp
else
  result[bench]=skipped
fi

if [[ $skip_node == 0 && $have_node == 1 && -f cuda-addon/build/Release/genrm.node ]]; then
  echo "== Node suite on the GPU (GENRM_DEVICE=cuda GENRM_PRECISION=fp32)"
  files=$(ls test/*.test.ts | grep -v pack.test.ts)
  left=$(( deadline - ($(date +%s) - start) - 10 ))
  (( left > 240 )) && left=240
  echo "   (time-out ${left} s)"
  GENRM_DEVICE=cuda GENRM_PRECISION=fp32 timeout $(( left > 5 ? left : 5 )) node_modules/.bin/ava --tap $files >"$out/node.tap" 2>&1
  result[node]=$?
  grep -E "^not ok|^# (pass|fail|skip)" "$out/node.tap"
else
  result[node]=skipped
fi
stamp

sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null | head -1)
if [[ $skip_memcheck == 0 && -n $sanitizer && -x $build/genrm_native_tests ]]; then
  echo "== memcheck (compute-sanitizer), as time allows"
  result[memcheck]=0
  # The model group last: it is the slowest under the sanitizer, and every
  # kernel it launches is covered by a group before it.
  for group in $(echo "$groups" | grep -v cuda_model) cuda_model; do
    left=$(( deadline - ($(date +%s) - start) ))
    (( left < 20 )) && { echo "   out of time before $group"; break; }
    echo "== memcheck $group" >>"$out/parity.log"
    GENRM_REQUIRE_CUDA=1 timeout $(( left - 5 )) "$sanitizer" --tool memcheck --report-api-errors no --error-exitcode 99 \
      "$build/genrm_native_tests" "$group" >>"$out/parity.log" 2>&1
    rc=$?
    echo "   $group: $([[ $rc == 0 ]] && echo clean || echo "rc $rc")"
    [[ $rc == 0 || $rc == 124 ]] || result[memcheck]=1
  done
fi

echo "== summary ($(( $(date +%s) - start )) s)"
status=0
for k in build parity bench torch node memcheck; do
  v=${result[$k]:-skipped}
  echo "  $k: $([[ $v == 0 ]] && echo ok || echo "$v")"
  [[ $v == 0 || $v == skipped ]] || status=1
done
exit $status
