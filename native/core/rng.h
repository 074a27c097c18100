// splitmix64: a tiny, well-mixed 64-bit generator. Weight initialisation gives
// each tensor its own stream; generation gives each sample its own.
#pragma once
#include <cstdint>

namespace genrm {

struct SplitMix64 {
  static constexpr uint64_t kGamma = 0x9e3779b97f4a7c15ull;  // the state's step per draw
  uint64_t s;
  // The same stream k draws later: the state after k draws is s + k * kGamma.
  SplitMix64 skipped(uint64_t k) const { return SplitMix64{s + k * kGamma}; }
  uint64_t next() {
    uint64_t z = (s += kGamma);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1) from the top 53 bits.
  double uniform() { return (next() >> 11) * (1.0 / 9007199254740992.0); }
  // Uniform in (0, 1): never 0, so log() of it is finite (Box-Muller).
  double uniform_open() { return ((next() >> 11) + 0.5) * (1.0 / 9007199254740992.0); }
};

}  // namespace genrm
