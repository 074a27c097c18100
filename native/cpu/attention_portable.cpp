// The tile code without SIMD flags: each 8-lane vector is a pair of SSE
// registers, so 4 rows per block (16 xmm registers) rather than AVX2's 6.
#include "attention.h"

#define GENRM_ATT_VW 8
#define GENRM_ATT_RB 4

namespace genrm::cpu {
#include "attention_kernel.inc"

AttentionTileKernels attention_kernels_portable() { return {tile_forward, tile_backward_kv, tile_backward_q}; }

}  // namespace genrm::cpu
