// Element types of device buffers. Storage may be fp32 or bf16; arithmetic in
// the kernels is always fp32 (tensor cores: bf16 operands, fp32 accumulation).
#pragma once
#include <cstddef>

namespace genrm::cuda {

enum class DType { F32, BF16 };

inline size_t dtype_size(DType t) { return t == DType::F32 ? 4 : 2; }
inline const char* dtype_name(DType t) { return t == DType::F32 ? "f32" : "bf16"; }

}  // namespace genrm::cuda
