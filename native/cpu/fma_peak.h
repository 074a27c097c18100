// Measures the machine's fp32 FMA throughput: the ceiling the GEMM bench
// reports its fraction of. A measurement, not an assumed clock x width product.
#pragma once
#include "../core/cpu_features.h"

namespace genrm::cpu {

// Runs independent FMA chains on every engine thread for about `seconds`;
// returns GFLOP/s summed over threads (2 FLOPs per lane per FMA).
double fma_peak_gflops(Isa isa, double seconds);

// One thread's loop: `iters` iterations of 12 independent 8-wide FMAs.
// Returns a value derived from the accumulators so the work is not optimised away.
float fma_loop_avx2(long iters);
float fma_loop_avx512(long iters);
float fma_loop_portable(long iters);

}  // namespace genrm::cpu
