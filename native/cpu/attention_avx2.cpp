// Compiled with -mavx2 -mfma: the same tile code as the portable unit.
#include "attention.h"

namespace genrm::cpu {
#include "attention_kernel.inc"

AttentionTileKernels attention_kernels_avx2() { return {tile_forward, tile_backward_kv, tile_backward_q}; }

}  // namespace genrm::cpu
