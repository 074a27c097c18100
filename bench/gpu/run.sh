#!/usr/bin/env bash
# The GPU machine's check, in one run (it has nvcc, cmake, cuBLAS and PyTorch,
# but no Node and no network). Today: builds the CUDA engine and the C++
# harness, and runs every CUDA kernel against its CPU reference with a usable
# device required. The Node suite under GENRM_DEVICE=cuda and the benchmark
# table against PyTorch join this script as the CUDA model path lands.
#   bash bench/gpu/run.sh            (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/../.."
jobs=$(nproc 2>/dev/null || echo 4)
build=build-gpu
start=$(date +%s)

echo "== device"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

echo "== build (CUDA engine + C++ harness)"
cmake -S . -B "$build" -DGENRM_CUDA=ON -DGENRM_ADDON=OFF -DGENRM_NATIVE_TESTS=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --parallel "$jobs" 2>&1 | grep -E "error|warning" || true
test -x "$build/genrm_native_tests"

echo "== parity: every kernel, CPU vs CUDA"
GENRM_REQUIRE_CUDA=1 "$build/genrm_native_tests"

echo "== done in $(( $(date +%s) - start )) s"
