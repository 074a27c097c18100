// ptx.cuh's instructions, emulated lane by lane for the simulator. The layouts
// are the PTX ISA's ("Matrix Fragments for mma.m16n8k16", "ldmatrix"); they are
// written here from the ISA, independently of the kernels that rely on them, so
// a kernel that misreads a fragment fails its parity test under simulation.
#pragma once
#include <cstdint>
#include <cstring>

#include "sim.h"

namespace genrm::cuda {

inline uint32_t smem_u32(const void* p) { return genrm_sim::shared_address(p); }

inline void cp_async16(uint32_t dst, const void* src, int src_bytes) { genrm_sim::async_copy_16(dst, src, src_bytes); }
inline void cp_async_commit() { genrm_sim::async_commit(); }
template <int N>
inline void cp_async_wait() {
  genrm_sim::async_wait(N);
}

inline void st_shared_v4(uint32_t addr, uint32_t x, uint32_t y, uint32_t z, uint32_t w) {
  const uint32_t v[4] = {x, y, z, w};
  std::memcpy(genrm_sim::shared_pointer(addr, 16, 16, "st.shared.v4.b32"), v, 16);
}

namespace sim_detail {

inline float bf16_lo(uint32_t r) { return __uint_as_float(r << 16); }
inline float bf16_hi(uint32_t r) { return __uint_as_float(r & 0xffff0000u); }

// ldmatrix .x4: lane 8j + i gives row i of matrix j; register j of lane l holds
// (row l/4, cols 2(l%4), 2(l%4)+1) of matrix j, or with .trans (rows 2(l%4),
// 2(l%4)+1, col l/4); the lower index in the low half.
inline void ldmatrix_x4(uint32_t (&r)[4], uint32_t addr, bool trans) {
  const char* op = trans ? "ldmatrix.x4.trans" : "ldmatrix.x4";
  // This lane's row, read as the lane arrives (16 bytes, 16-byte aligned, in the
  // arena): what a lane writes to shared memory after the instruction must not
  // change what the others receive.
  unsigned char row[16];
  std::memcpy(row, genrm_sim::shared_pointer(addr, 16, 16, op), 16);
  const unsigned char* slots = genrm_sim::warp_exchange(0xffffffffu, row, sizeof row, op);
  const int lane = genrm_sim::lane_id(), g = lane >> 2, t = lane & 3;
  auto element = [&](int matrix, int row_i, int col) {
    uint16_t e;
    std::memcpy(&e, slots + static_cast<size_t>(8 * matrix + row_i) * genrm_sim::kSlotBytes + 2 * col, 2);
    return static_cast<uint32_t>(e);
  };
  for (int j = 0; j < 4; ++j) {
    const uint32_t lo = trans ? element(j, 2 * t, g) : element(j, g, 2 * t);
    const uint32_t hi = trans ? element(j, 2 * t + 1, g) : element(j, g, 2 * t + 1);
    r[j] = lo | hi << 16;
  }
}

}  // namespace sim_detail

inline void ldsm_x4(uint32_t (&r)[4], uint32_t addr) { sim_detail::ldmatrix_x4(r, addr, false); }
inline void ldsm_x4_trans(uint32_t (&r)[4], uint32_t addr) { sim_detail::ldmatrix_x4(r, addr, true); }

// mma.m16n8k16 bf16 -> fp32: the lanes' fragments are gathered into A (16 x 16)
// and B (16 x 8) and the product computed once per warp; each lane adds its four
// elements to its accumulators. Products of bf16 are exact in fp32; the sum over
// k runs in increasing k (the hardware's order is unspecified).
inline void mma_bf16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  struct Frag {
    uint32_t a[4], b[2];
  } mine{{a[0], a[1], a[2], a[3]}, {b0, b1}};
  const unsigned char* slots = genrm_sim::warp_exchange(0xffffffffu, &mine, sizeof mine, "mma.m16n8k16");
  bool first = false;
  float (*AB)[8] = reinterpret_cast<float (*)[8]>(genrm_sim::warp_result(first));  // [16][8]
  static_assert(16 * 8 * sizeof(float) <= genrm_sim::kResultBytes, "the product fits the warp's result");
  if (first) {
    float A[16][16], B[16][8];
    for (int l = 0; l < 32; ++l) {
      Frag f;
      std::memcpy(&f, slots + static_cast<size_t>(l) * genrm_sim::kSlotBytes, sizeof f);
      const int g = l >> 2, t = l & 3;
      for (int h = 0; h < 2; ++h) {  // h: the half (k offset 0 or 1)
        auto part = [&](uint32_t r) { return h ? sim_detail::bf16_hi(r) : sim_detail::bf16_lo(r); };
        A[g][2 * t + h] = part(f.a[0]);
        A[g + 8][2 * t + h] = part(f.a[1]);
        A[g][2 * t + 8 + h] = part(f.a[2]);
        A[g + 8][2 * t + 8 + h] = part(f.a[3]);
        B[2 * t + h][g] = part(f.b[0]);
        B[2 * t + 8 + h][g] = part(f.b[1]);
      }
    }
    for (int row = 0; row < 16; ++row)
      for (int col = 0; col < 8; ++col) {
        float acc = 0.0f;
        for (int k = 0; k < 16; ++k) acc += A[row][k] * B[k][col];
        AB[row][col] = acc;
      }
  }
  const int lane = genrm_sim::lane_id(), g = lane >> 2, t = lane & 3;
  for (int i = 0; i < 4; ++i) d[i] += AB[g + (i >= 2 ? 8 : 0)][2 * t + (i & 1)];
}

}  // namespace genrm::cuda
