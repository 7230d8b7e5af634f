// The exact path's per-neuron affine map, y = init + sum_k w[:, k] * h[k] (k ascending), in float64.
//
// Same bits as the PyTorch version (lutsearch/models/_exact.py, per_neuron_affine): every product is
// rounded, then added to the accumulator, one input unit after another, starting from init (or from
// the first product when there is no init). This file must be built with -ffp-contract=off and
// without -ffast-math (exact.py passes the flags): then the compiler may neither fuse a product and
// a sum into an FMA nor reorder the sums, and vectorizing over samples (independent lanes) changes
// nothing, so the result is fixed by IEEE 754 alone on any CPU, instruction set and thread count.
// Written by hand: no library offers a matmul with a prescribed summation order.
#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

namespace {

constexpr int64_t kBlock = 64;  // samples per block: a block of h rows stays in L1

struct Args {
  int64_t n, d_in, d_out, m;
  const double* h;     // (n, d_in, m) contiguous
  const double* w;     // (n, d_out, d_in) contiguous
  const double* init;  // nullptr, or element (i, o, j) at init[i * s_n + o * s_o + j * s_m]
  int64_t s_n, s_o, s_m;
  double* y;  // (n, d_out, m) contiguous
  int relu;   // clamp_min(0) after the sum
};

void run_neurons(const Args& a, int64_t first, int64_t last) {
  double acc[kBlock];
  for (int64_t i = first; i < last; ++i) {
    const double* h = a.h + i * a.d_in * a.m;
    const double* w = a.w + i * a.d_out * a.d_in;
    double* y = a.y + i * a.d_out * a.m;
    for (int64_t j0 = 0; j0 < a.m; j0 += kBlock) {
      const int64_t nb = std::min(kBlock, a.m - j0);
      for (int64_t o = 0; o < a.d_out; ++o) {
        const double* wo = w + o * a.d_in;
        int64_t k = 0;
        if (a.init != nullptr) {
          const double* src = a.init + i * a.s_n + o * a.s_o + j0 * a.s_m;
          for (int64_t j = 0; j < nb; ++j) acc[j] = src[j * a.s_m];
        } else {  // no init: the accumulator starts as the first product
          const double w0 = wo[0];
          const double* h0 = h + j0;
          for (int64_t j = 0; j < nb; ++j) acc[j] = w0 * h0[j];
          k = 1;
        }
        for (; k < a.d_in; ++k) {
          const double wk = wo[k];
          const double* hk = h + k * a.m + j0;
          for (int64_t j = 0; j < nb; ++j) {
            const double p = wk * hk[j];  // rounded product, then a rounded sum (no FMA: see top)
            acc[j] = acc[j] + p;
          }
        }
        double* dst = y + o * a.m + j0;
        if (a.relu) {
          for (int64_t j = 0; j < nb; ++j) dst[j] = acc[j] < 0.0 ? 0.0 : acc[j];
        } else {
          for (int64_t j = 0; j < nb; ++j) dst[j] = acc[j];
        }
      }
    }
  }
}

}  // namespace

extern "C" int lutsearch_exact_affine(int64_t n, int64_t d_in, int64_t d_out, int64_t m, const double* h,
                                      const double* w, const double* init, int64_t s_n, int64_t s_o, int64_t s_m,
                                      double* y, int relu, int threads) {
  if (n < 0 || d_in < 1 || d_out < 1 || m < 0 || h == nullptr || w == nullptr || y == nullptr) return 2;
  const Args a{n, d_in, d_out, m, h, w, init, s_n, s_o, s_m, y, relu};
  // Threads split the neurons; each output is computed by one thread, so the count changes nothing.
  const int64_t work = n * d_in * d_out * m;
  int64_t t = std::max<int64_t>(1, std::min<int64_t>({threads, n, work / (1 << 16) + 1}));
  if (t == 1) {
    run_neurons(a, 0, n);
    return 0;
  }
  try {
    std::vector<std::thread> pool;
    const int64_t per = (n + t - 1) / t;
    for (int64_t s = per; s < n; s += per) pool.emplace_back(run_neurons, std::cref(a), s, std::min(n, s + per));
    run_neurons(a, 0, std::min(n, per));
    for (auto& th : pool) th.join();
  } catch (...) {
    return 3;
  }
  return 0;
}
