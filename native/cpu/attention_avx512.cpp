// Compiled with -mavx512f -mavx2 -mfma: the same tile code as the other units,
// 16 lanes wide and 8 rows per register block (16 of the 32 zmm registers).
#include "attention.h"

#define GENRM_ATT_VW 16
#define GENRM_ATT_RB 8

namespace genrm::cpu {
#include "attention_kernel.inc"

AttentionTileKernels attention_kernels_avx512() { return {tile_forward, tile_backward_kv, tile_backward_q}; }

}  // namespace genrm::cpu
