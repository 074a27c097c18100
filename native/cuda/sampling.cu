// Drawing tokens on the device (sampling.h). Per chunk of rows:
//  1. stats_kernel, one block per row: the first maximum, the log-sum-exp (a
//     double sum of exp(x - max)) and, when a filter needs the sorted order,
//     each element's sort key. Greedy rows are finished here.
//  2. With top-k or top-p: one device-wide radix sort of the chunk's keys
//     (row, then logit descending, then id ascending).
//  3. draw_kernel, one block per row: the kept candidates' weights in order, a
//     blocked prefix sum (each thread a contiguous tile, summed in order, then
//     a block scan of the tile sums), the top-p cut and the draw.
// Every sum has a fixed order (no atomics, nothing timing-dependent), so the
// same inputs give the same tokens.
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cub/cub.cuh>

#include "../core/error.h"
#include "check.h"
#include "launch.cuh"
#include "sampling.h"

namespace genrm::cuda {
namespace {

constexpr int kBlock = 512;                       // threads per row (a multiple of the warp size)
constexpr int64_t kChunkKeys = int64_t(1) << 22;  // sort keys per chunk: 2 x 32 MiB of 64-bit keys
constexpr int64_t kChunkRows = int64_t(1) << 16;  // rows per launch when nothing is sorted
constexpr int64_t kNone = INT64_MAX;              // "no index" in the block-wide minimum

struct RowStats {
  double lse;  // max + log(sum of exp(x - max))
  float mx;    // the row's maximum
};

// The candidate ordering used by the CPU's sort_by_logit: the float's bits made
// to sort ascending as unsigned, then inverted (highest logit first). -0 is
// taken as +0 so that the two compare equal.
__device__ inline uint32_t descending_bits(float x) {
  uint32_t b = __float_as_uint(x);
  if (b == 0x80000000u) b = 0;
  b = (b & 0x80000000u) ? ~b : (b | 0x80000000u);
  return ~b;
}

// The logit a key was made from (-0 comes back as +0: x - max, and so the
// weight exp((x - max) / t), is the same for either).
__device__ inline float key_logit(uint64_t key, int id_bits) {
  const uint32_t b = ~static_cast<uint32_t>(key >> id_bits);  // undo the inversion; drops the row bits
  return __uint_as_float((b & 0x80000000u) ? (b & 0x7fffffffu) : ~b);
}

// First maximum: larger value wins, equal values go to the lower index. A total
// order on non-NaN values, so any reduction tree picks the same element.
struct Best {
  float v;
  int64_t i;
};

__device__ inline Best better(Best a, Best b) { return (b.v > a.v || (b.v == a.v && b.i < a.i)) ? b : a; }

__device__ inline Best shfl_xor(Best b, int o) {
  return {__shfl_xor_sync(0xffffffffu, b.v, o), __shfl_xor_sync(0xffffffffu, b.i, o)};
}

// Block-wide reductions (launch.cuh's tree), returned to every thread.
__device__ inline Best block_best(Best b) {
  return block_reduce(b, [](Best x, Best y) { return better(x, y); }, Best{-INFINITY, kNone});
}

// __dadd_rn keeps the tree free of contractions; xor pairs make every lane's sum
// the same bits (addition is commutative).
__device__ inline double block_sum_double(double v) {
  return block_reduce(v, [](double a, double b) { return __dadd_rn(a, b); }, 0.0);
}

__device__ inline int64_t block_min(int64_t v) {
  return block_reduce(v, [](int64_t a, int64_t b) { return min(a, b); }, kNone);
}

// One block per row. kKeys: also writes the row's sort keys, (row << (32 +
// id_bits)) | (descending logit bits << id_bits) | id. tokens non-null: greedy,
// the row is finished here; otherwise its stats go to `stats`.
template <bool kKeys>
__global__ void __launch_bounds__(kBlock) stats_kernel(const float* logits, int64_t vocab, int id_bits, uint64_t* keys,
                                                       RowStats* stats, int32_t* tokens, double* logprob) {
  const int64_t row = blockIdx.x;
  const float* z = logits + row * vocab;
  Best best{-INFINITY, kNone};
  for (int64_t i = threadIdx.x; i < vocab; i += blockDim.x) {
    const float x = z[i];
    best = better(best, Best{x, i});  // (not a plain `>`: an all -inf row still needs an index)
    if constexpr (kKeys)
      keys[row * vocab + i] = (static_cast<uint64_t>(row) << (32 + id_bits)) |
                              (static_cast<uint64_t>(descending_bits(x)) << id_bits) | static_cast<uint64_t>(i);
  }
  best = block_best(best);
  const float mx = best.v;
  double s = 0;  // as the CPU: the float difference, exponentiated in double
  for (int64_t i = threadIdx.x; i < vocab; i += blockDim.x) s = __dadd_rn(s, exp(static_cast<double>(z[i] - mx)));
  s = block_sum_double(s);
  if (threadIdx.x == 0) {
    const double lse = static_cast<double>(mx) + log(s);
    if (tokens) {
      // The CPU's std::max_element with NaN: nothing compares above a NaN at id
      // 0, so it stays the answer; NaNs elsewhere are passed over, as better()
      // does. (An all-NaN row would otherwise leave best.i at kNone: token -1.)
      const int64_t pick = isnan(z[0]) ? 0 : best.i;
      tokens[row] = static_cast<int32_t>(pick);
      logprob[row] = static_cast<double>(z[pick]) - lse;  // z[best.i] is mx
    } else {
      stats[row] = RowStats{lse, mx};
    }
  }
}

// One block per row, temperature > 0. The candidates are positions [0, keep)
// of the row's sorted keys (kSorted) or of the row itself in id order. Each
// thread owns the contiguous tile [begin, end) of positions; S(i), the running
// sum of weights through position i, is prefix (the exclusive scan of the tile
// sums) + the thread's in-order sum from begin through i. Every pass recomputes
// the weights with the same operations (the _rn intrinsics rule out
// contractions), so a thread's sums are the same bits in every pass, and S is
// nondecreasing within a tile: a tile whose last S fails a test fails it
// everywhere, and is skipped. Across tiles S may step back by a rounding (the
// scan adds in another order than the tile), so each search takes the lowest
// position over all threads.
template <bool kSorted>
__global__ void __launch_bounds__(kBlock)
    draw_kernel(const float* logits, const uint64_t* keys, int64_t vocab, int id_bits, const RowStats* stats,
                int64_t keep, double inv_t, double top_p, const double* u, int32_t* tokens, double* logprob) {
  using Scan = cub::BlockScan<double, kBlock>;
  __shared__ typename Scan::TempStorage scan_storage;
  __shared__ double cut_total;
  const int64_t row = blockIdx.x;
  const float* z = logits + row * vocab;
  const uint64_t* k = kSorted ? keys + row * vocab : nullptr;
  const float mx = stats[row].mx;
  // exp((x - max) / t) as the CPU: float difference, times the double 1 / t.
  auto weight = [&](int64_t i) {
    const float x = kSorted ? key_logit(k[i], id_bits) : z[i];
    return exp(__dmul_rn(static_cast<double>(x - mx), inv_t));
  };
  const int64_t per = (keep + blockDim.x - 1) / blockDim.x;
  const int64_t begin = min(keep, static_cast<int64_t>(threadIdx.x) * per), end = min(keep, begin + per);

  double tile = 0;
  for (int64_t i = begin; i < end; ++i) tile = __dadd_rn(tile, weight(i));
  double prefix, total;  // total: the same bits in every thread (the scan broadcasts it)
  Scan(scan_storage).ExclusiveSum(tile, prefix, total);

  // Top-p: the first position whose mass S(i) / total reaches top_p; the kept
  // total becomes S(cut - 1). None found (rounding): all `keep` stay.
  int64_t cut = keep;
  double kept_total = total;
  if (top_p < 1.0) {
    int64_t found = kNone;
    double found_sum = 0;
    if (begin < end && __dadd_rn(prefix, tile) / total >= top_p) {
      double run = 0;
      for (int64_t i = begin; i < end; ++i) {
        run = __dadd_rn(run, weight(i));
        const double sum = __dadd_rn(prefix, run);
        if (sum / total >= top_p) {
          found = i;
          found_sum = sum;
          break;
        }
      }
    }
    const int64_t first = block_min(found);  // uniform: every thread takes the same branches below
    if (found != kNone && found == first) cut_total = found_sum;
    __syncthreads();
    if (first != kNone) {
      cut = first + 1;
      kept_total = cut_total;
    }
  }

  // The draw: the first position below the cut with S(i) > u * kept total (the
  // CPU's `left -= w; if (left < 0)`), else the last kept one.
  const double target = u[row] * kept_total;
  const int64_t stop = min(end, cut);
  int64_t found = kNone;
  // A tile wholly below the cut whose last S is <= target cannot hold the draw.
  if (begin < stop && !(end <= cut && __dadd_rn(prefix, tile) <= target)) {
    double run = 0;
    for (int64_t i = begin; i < stop; ++i) {
      run = __dadd_rn(run, weight(i));
      if (__dadd_rn(prefix, run) > target) {
        found = i;
        break;
      }
    }
  }
  int64_t pick = block_min(found);
  if (pick == kNone) pick = cut - 1;  // rounding left u * total past the last kept one
  if (threadIdx.x == 0) {
    const int64_t id = kSorted ? static_cast<int64_t>(k[pick] & ((uint64_t(1) << id_bits) - 1)) : pick;
    tokens[row] = static_cast<int32_t>(id);
    logprob[row] = static_cast<double>(z[id]) - stats[row].lse;
  }
}

void require(const void* p, const char* field) {
  if (!p) throw_arg(field, "a device pointer", "null");
}

size_t aligned(size_t bytes) { return (bytes + 255) / 256 * 256; }

// CUB's temporary storage for sorting n keys on bits [begin_bit, end_bit).
size_t sort_temp_bytes(int64_t n, int begin_bit, int end_bit) {
  size_t bytes = 0;
  cub::DoubleBuffer<uint64_t> keys(nullptr, nullptr);
  check(cub::DeviceRadixSort::SortKeys(nullptr, bytes, keys, static_cast<int>(n), begin_bit, end_bit),
        "sample_rows (sort storage size)");
  return bytes;
}

}  // namespace

void sample_rows(const float* logits, int64_t rows, int64_t vocab, const cpu::SamplingParams& s, const double* u,
                 int32_t* tokens, double* logprob) {
  // Everything is checked before the first CUDA call.
  if (rows < 1) throw_arg("sample_rows rows", ">= 1", rows);
  if (vocab < 1 || vocab > INT32_MAX) throw_arg("sample_rows vocab", "in [1, 2^31) (tokens are int32)", vocab);
  if (rows > (INT64_MAX / 8) / vocab) throw_arg("sample_rows rows", "rows x vocab logits that fit in memory", rows);
  cpu::validate_sampling(s);
  require(logits, "sample_rows logits");
  if (s.temperature > 0) require(u, "sample_rows u");
  require(tokens, "sample_rows tokens");
  require(logprob, "sample_rows logprob");

  const bool greedy = s.temperature == 0.0;
  const bool top_k = s.top_k > 0 && s.top_k < vocab;
  const bool sorted = !greedy && (top_k || s.top_p < 1.0);  // neither filter: the draw walks ids in order
  const int64_t keep = top_k ? s.top_k : vocab;
  const double inv_t = greedy ? 0.0 : 1.0 / s.temperature;
  int id_bits = 1;  // as cpu::sort_by_logit
  while ((int64_t(1) << id_bits) < vocab) ++id_bits;

  // Chunks of rows. Sorted: at most kChunkKeys keys, or one row if a row is
  // larger (vocab < 2^31 keeps the count an int for CUB). So row_bits + id_bits
  // is at most 23, or 31 for a single row: a key fits in 63 bits.
  const int64_t chunk = sorted ? std::min(rows, std::max<int64_t>(1, kChunkKeys / vocab)) : std::min(rows, kChunkRows);
  int row_bits = 0;
  while ((int64_t(1) << row_bits) < chunk) ++row_bits;
  // The keys are written in id order within each row and the sort is stable, so
  // equal logits stay in id order without sorting the id bits.
  const int begin_bit = id_bits, end_bit = 32 + id_bits + row_bits;

  RowStats* stats = nullptr;
  uint64_t *keys = nullptr, *keys_alt = nullptr;
  void* temp = nullptr;
  size_t temp_bytes = 0;
  if (!greedy) {
    const size_t stats_bytes = aligned(sizeof(RowStats) * static_cast<size_t>(chunk));
    size_t key_bytes = 0;
    if (sorted) {
      key_bytes = aligned(sizeof(uint64_t) * static_cast<size_t>(chunk * vocab));
      const int64_t last = rows - (rows - 1) / chunk * chunk;  // the last chunk's rows
      temp_bytes = std::max(sort_temp_bytes(chunk * vocab, begin_bit, end_bit),
                            sort_temp_bytes(last * vocab, begin_bit, end_bit));
    }
    char* base = static_cast<char*>(
        device_scratch(Scratch::Sampling, stats_bytes + 2 * key_bytes + temp_bytes, "sampling scratch"));
    stats = reinterpret_cast<RowStats*>(base);
    if (sorted) {
      keys = reinterpret_cast<uint64_t*>(base + stats_bytes);
      keys_alt = reinterpret_cast<uint64_t*>(base + stats_bytes + key_bytes);
      temp = base + stats_bytes + 2 * key_bytes;
    }
  }

  // Chunks reuse the scratch: everything runs in order on the default stream.
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    const int64_t n = std::min(chunk, rows - r0);
    const unsigned blocks = static_cast<unsigned>(n);
    const float* lg = logits + r0 * vocab;
    if (greedy) {
      stats_kernel<false><<<blocks, kBlock>>>(lg, vocab, id_bits, nullptr, nullptr, tokens + r0, logprob + r0);
      check_launch("sample_rows (greedy)");
    } else if (!sorted) {
      stats_kernel<false><<<blocks, kBlock>>>(lg, vocab, id_bits, nullptr, stats, nullptr, nullptr);
      check_launch("sample_rows (max and log-sum-exp)");
      draw_kernel<false><<<blocks, kBlock>>>(lg, nullptr, vocab, id_bits, stats, keep, inv_t, s.top_p, u + r0,
                                             tokens + r0, logprob + r0);
      check_launch("sample_rows (draw in id order)");
    } else {
      stats_kernel<true><<<blocks, kBlock>>>(lg, vocab, id_bits, keys, stats, nullptr, nullptr);
      check_launch("sample_rows (max, log-sum-exp and sort keys)");
      cub::DoubleBuffer<uint64_t> db(keys, keys_alt);
      size_t bytes = temp_bytes;
      check(cub::DeviceRadixSort::SortKeys(temp, bytes, db, static_cast<int>(n * vocab), begin_bit, end_bit),
            "sample_rows (sort by logit)");
      draw_kernel<true><<<blocks, kBlock>>>(lg, db.Current(), vocab, id_bits, stats, keep, inv_t, s.top_p, u + r0,
                                            tokens + r0, logprob + r0);
      check_launch("sample_rows (draw in sorted order)");
    }
  }
}

}  // namespace genrm::cuda
