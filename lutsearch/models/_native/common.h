// Shared by lutsearch's native kernels: 16-float vectors (GCC/Clang vector extensions: one AVX-512
// register where the CPU has it, split into narrower registers elsewhere) and a split of neurons
// over threads. Written by hand: the kernels avoid PyTorch headers (and so at::parallel_for) to
// build in seconds.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

namespace lutsearch_native {

typedef float vf __attribute__((vector_size(64)));  // 16 lanes
typedef int vi __attribute__((vector_size(64)));
constexpr int LANES = 16;

inline vf vload(const float* p) { vf v; std::memcpy(&v, p, sizeof v); return v; }
inline void vstore(float* p, vf v) { std::memcpy(p, &v, sizeof v); }
inline vf vbcast(float a) { return vf{a, a, a, a, a, a, a, a, a, a, a, a, a, a, a, a}; }
#if defined(__clang__)
#define LUTSEARCH_SHUFFLE(v, ...) __builtin_shufflevector(v, v, __VA_ARGS__)
#else
#define LUTSEARCH_SHUFFLE(v, ...) __builtin_shuffle(v, vi{__VA_ARGS__})
#endif
inline float hsum(vf v) {  // pairwise: lanes 8 apart, then 4, 2, 1
  v += LUTSEARCH_SHUFFLE(v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
  v += LUTSEARCH_SHUFFLE(v, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11);
  v += LUTSEARCH_SHUFFLE(v, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
  v += LUTSEARCH_SHUFFLE(v, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14);
  return v[0];
}
// g where h > 0, else 0 (a ReLU's mask, bitwise: GCC and Clang both take it)
inline vf where_positive(vf h, vf g) { return (vf)((vi)g & (h > vf{})); }
inline vf relu(vf z) { return where_positive(z, z); }

// Runs work(i0, i1) on contiguous ranges of the n neurons, one per thread. Threads are started per
// call (~20-50 us each), so each gets at least ~8k sample-neurons (n * batch / 8192 threads at most).
// Returns 0, or 3 when a range threw (out of memory): no exception leaves a thread or the C interface.
template <class Work>
int parallel_over_neurons(int64_t n, int64_t batch, int nthreads, Work work) {
  const int64_t useful = std::max<int64_t>(1, std::min<int64_t>(n, n * batch / 8192));
  nthreads = (int)std::max<int64_t>(1, std::min<int64_t>(nthreads, useful));
  std::atomic<int> failed{0};
  auto range = [&](int t) {
    try {
      work(n * t / nthreads, n * (t + 1) / nthreads);
    } catch (...) {
      failed = 1;
    }
  };
  std::vector<std::thread> pool;
  int spawned = 1;
  try {
    for (; spawned < nthreads; ++spawned) pool.emplace_back(range, spawned);
  } catch (...) {  // no thread to be had: the caller runs the remaining ranges itself
  }
  range(0);
  for (int t = spawned; t < nthreads; ++t) range(t);
  for (auto& th : pool) th.join();
  return failed ? 3 : 0;
}

}  // namespace lutsearch_native
