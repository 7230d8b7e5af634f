// Shared by lutsearch's native kernels: float vectors as wide as the target's registers (GCC/Clang
// vector extensions) and a split of neurons over a small pool of helper threads. Written by hand:
// the kernels avoid PyTorch headers (and so at::parallel_for) to build in seconds.
//
// The width is chosen at compile time from the -march level (lutsearch.models._native.march()):
// 16 floats with AVX-512, 8 with AVX/AVX2, 4 otherwise (SSE, NEON). A wider vector type than the
// registers would be split by the compiler into several registers per value: on AVX2 the kernels'
// 16-float blocks then needed twice the registers there are, spilled to the stack and ran 0.6x of
// PyTorch (docs/performance.md). Kernels size their register blocks in vectors (subnet.cpp), so one
// source is good at every width. A neuron's sums run in a fixed order for a given width: results
// do not depend on the number of threads, only (to float32 rounding) on the width.
#pragma once
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace lutsearch_native {

#if defined(__AVX512F__)
constexpr int LANES = 16;
#elif defined(__AVX__)
constexpr int LANES = 8;
#else
constexpr int LANES = 4;
#endif
typedef float vf __attribute__((vector_size(4 * LANES)));
typedef int vi __attribute__((vector_size(4 * LANES)));

inline vf vload(const float* p) { vf v; std::memcpy(&v, p, sizeof v); return v; }
inline void vstore(float* p, vf v) { std::memcpy(p, &v, sizeof v); }
inline vf vbcast(float a) { return a - vf{}; }  // a - (+0) is a in every lane, -0 included
#if defined(__clang__)
#define LUTSEARCH_SHUFFLE(v, ...) __builtin_shufflevector(v, v, __VA_ARGS__)
#else
#define LUTSEARCH_SHUFFLE(v, ...) __builtin_shuffle(v, vi{__VA_ARGS__})
#endif
inline float hsum(vf v) {  // pairwise: lanes LANES/2 apart, then LANES/4, ..., 1
#if defined(__AVX512F__)
  v += LUTSEARCH_SHUFFLE(v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
  v += LUTSEARCH_SHUFFLE(v, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11);
  v += LUTSEARCH_SHUFFLE(v, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
  v += LUTSEARCH_SHUFFLE(v, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14);
#elif defined(__AVX__)
  v += LUTSEARCH_SHUFFLE(v, 4, 5, 6, 7, 0, 1, 2, 3);
  v += LUTSEARCH_SHUFFLE(v, 2, 3, 0, 1, 6, 7, 4, 5);
  v += LUTSEARCH_SHUFFLE(v, 1, 0, 3, 2, 5, 4, 7, 6);
#else
  v += LUTSEARCH_SHUFFLE(v, 2, 3, 0, 1);
  v += LUTSEARCH_SHUFFLE(v, 1, 0, 3, 2);
#endif
  return v[0];
}
// rint (ties to even, the default rounding mode) of |z| < 2^22 in float32
inline vf vrint(vf z) {
  const vf magic = vbcast(12582912.f);  // 1.5 * 2^23
  vf r = z + magic;
  return r - magic;
}
inline vf vmin(vf a, vf b) { return a < b ? a : b; }
inline vf vmax(vf a, vf b) { return a > b ? a : b; }
inline vf vmask(vf v, vi m) { return (vf)((vi)v & m); }

// Loads/stores cnt <= LANES floats (zeros past cnt).
inline vf load_part(const float* p, int cnt) {
  if (cnt == LANES) return vload(p);
  alignas(64) float tmp[LANES] = {};
  std::memcpy(tmp, p, sizeof(float) * cnt);
  return vload(tmp);
}
inline void store_part(float* p, vf v, int cnt) {
  if (cnt == LANES) { vstore(p, v); return; }
  alignas(64) float tmp[LANES];
  vstore(tmp, v);
  std::memcpy(p, tmp, sizeof(float) * cnt);
}

// Loads/stores cnt <= LANES floats ``stride`` apart (zeros past cnt).
inline vf load_strided(const float* p, int64_t stride, int cnt) {
  if (stride == 1) return load_part(p, cnt);
  alignas(64) float tmp[LANES] = {};
  for (int k = 0; k < cnt; ++k) tmp[k] = p[k * stride];
  return vload(tmp);
}
inline void store_strided(float* p, int64_t stride, vf v, int cnt) {
  if (stride == 1) { store_part(p, v, cnt); return; }
  alignas(64) float tmp[LANES];
  vstore(tmp, v);
  for (int k = 0; k < cnt; ++k) p[k * stride] = tmp[k];
}

// g where h > 0, else 0 (a ReLU's mask, bitwise: GCC and Clang both take it)
inline vf where_positive(vf h, vf g) { return (vf)((vi)g & (h > vf{})); }
inline vf relu(vf z) { return where_positive(z, z); }

// Helper threads kept between kernel calls (one pool per kernel library, never destroyed: they live
// as long as the process). Starting a thread per call was cheap (~20 us) but landed the work on an
// idle core that took far longer to get going: two threads ran a layer only ~1.35x faster than one,
// while two threads that stayed busy ran at ~1.9x. A helper waits for the next call spinning with
// yields for SPIN (a training step calls the kernels back to back), then sleeps on a condition.
class WorkerPool {
 public:
  static constexpr std::chrono::microseconds SPIN{2000};

  // Runs range(t) for t in [0, n), t = 0 on the caller; false (nothing run) when another thread is
  // using the pool. Helpers that cannot be started leave their ranges to the caller.
  bool run(int n, const std::function<void(int)>& range) {
    std::unique_lock<std::mutex> guard(busy_, std::try_to_lock);
    if (!guard) return false;
    const uint64_t current = state_.load(std::memory_order_relaxed);
    while (started_ < n - 1 && started_ < MAX_HELPERS) {
      try {
        std::thread(&WorkerPool::loop, this, started_ + 1, current).detach();
      } catch (...) {
        break;
      }
      ++started_;
    }
    const int helpers = std::min(n - 1, started_);
    job_ = &range;
    remaining_.store(helpers, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lk(m_);  // a new call: next generation, with its number of ranges
      state_.store(((current >> 16) + 1) << 16 | (uint64_t)(helpers + 1), std::memory_order_release);
    }
    cv_.notify_all();
    range(0);
    for (int t = helpers + 1; t < n; ++t) range(t);
    while (remaining_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
    return true;
  }

  static WorkerPool& instance() {
    static const bool registered = pthread_atfork(nullptr, nullptr, [] { current() = new WorkerPool(); }) == 0;
    (void)registered;
    return *current();
  }

 private:
  static constexpr int MAX_HELPERS = 255;

  static WorkerPool*& current() {  // a forked child gets a fresh pool: its parent's helpers are gone
    static WorkerPool* pool = new WorkerPool();
    return pool;
  }

  // Helper t: waits for a generation after ``seen``; runs range t when the call has that many. The
  // generation and the number of ranges are one atomic word, read together: a call's participants
  // finish before the next call starts, so a participant always runs its own call's job.
  void loop(int t, uint64_t seen) {
    for (;;) {
      const auto until = std::chrono::steady_clock::now() + SPIN;
      uint64_t now;
      while ((now = state_.load(std::memory_order_acquire)) == seen) {
        if (std::chrono::steady_clock::now() > until) {
          std::unique_lock<std::mutex> lk(m_);
          cv_.wait(lk, [&] { return state_.load(std::memory_order_acquire) != seen; });
          now = state_.load(std::memory_order_acquire);
          break;
        }
        std::this_thread::yield();
      }
      seen = now;
      if ((uint64_t)t < (now & 0xffff)) {
        (*job_)(t);
        remaining_.fetch_sub(1, std::memory_order_release);
      }
    }
  }

  std::mutex busy_, m_;
  std::condition_variable cv_;
  std::atomic<uint64_t> state_{0};  // generation << 16 | number of ranges of the current call
  std::atomic<int> remaining_{0};
  const std::function<void(int)>* job_ = nullptr;
  int started_ = 0;
};

// Runs work(i0, i1) on contiguous ranges of the n neurons, one per thread, each at least ~8k
// sample-neurons (n * batch / 8192 threads at most). Returns 0, or 3 when a range threw (out of
// memory): no exception leaves a thread or the C interface.
template <class Work>
int parallel_over_neurons(int64_t n, int64_t batch, int nthreads, Work work) {
  const int64_t useful = std::max<int64_t>(1, std::min<int64_t>(n, n * batch / 8192));
  nthreads = (int)std::max<int64_t>(1, std::min<int64_t>(nthreads, useful));
  std::atomic<int> failed{0};
  const std::function<void(int)> range = [&](int t) {
    try {
      work(n * t / nthreads, n * (t + 1) / nthreads);
    } catch (...) {
      failed = 1;
    }
  };
  if (nthreads == 1 || !WorkerPool::instance().run(nthreads, range)) {
    std::vector<std::thread> threads;  // the pool is busy (another caller): threads for this call
    int spawned = 1;
    try {
      for (; spawned < nthreads; ++spawned) threads.emplace_back(range, spawned);
    } catch (...) {  // no thread to be had: the caller runs the remaining ranges itself
    }
    range(0);
    for (int t = spawned; t < nthreads; ++t) range(t);
    for (auto& th : threads) th.join();
  }
  return failed ? 3 : 0;
}

}  // namespace lutsearch_native
