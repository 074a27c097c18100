// Internal to the GEMM units (gemm.cu, gemm_mma.cu, gemm_cublas.cu): the
// engines behind cuda::gemm. Each takes validated arguments with m, n, k > 0 and
// alpha != 0 (gemm() handles the degenerate cases itself) and launches on the
// default stream.
#pragma once
#include "gemm.h"

namespace genrm::cuda::detail {

void gemm_simt(const GemmArgs& g);
void gemm_mma(const GemmArgs& g);
#ifdef GENRM_CUBLAS
void gemm_cublas(const GemmArgs& g);
void gemm_cublas_reserve(const GemmArgs& g);  // grows the scratch gemm_cublas(g) will take
#endif

}  // namespace genrm::cuda::detail
