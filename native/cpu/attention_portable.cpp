#include "attention.h"

namespace genrm::cpu {
#include "attention_kernel.inc"

AttentionTileKernels attention_kernels_portable() { return {tile_forward, tile_backward_kv, tile_backward_q}; }

}  // namespace genrm::cpu
