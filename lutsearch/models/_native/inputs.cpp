// The network's input quantizer for a fused training step: x (B, n) sample-major, as data arrives,
// to feature-major (n, B) codes * scale, as the fused layers (layer.h) read them, in one pass.
//
// Written by hand because PyTorch needs four passes plus a strided transpose for this (~0.6 ms per
// MNIST batch of 256 x 784 on the development machine, this ~0.1 ms). The values are those of
// lutsearch.models._quant.InputQuant's training path, op for op in float32:
// clamp(rint(x / scale), 0, high) * scale (rint: ties to even, as torch.round).
#include <cmath>

#include "common.h"

namespace {

using namespace lutsearch_native;
constexpr int64_t TILE = 16;

inline float quantize(float v, float scale, float high) {
  float r = std::nearbyint(v / scale);
  r = r < 0.f ? 0.f : r;  // NaN passes through, as with torch.clamp
  r = r > high ? high : r;
  return r * scale;
}

}  // namespace

extern "C" {

// Returns 0, or 2 (negative sizes, or a non-positive scale or high).
int lutsearch_quantize_transposed(const float* x, int64_t B, int64_t n, float scale, float high, float* out) {
  if (B < 0 || n < 0 || !(scale > 0.f) || !(high > 0.f)) return 2;
  alignas(64) float tile[TILE][TILE];
  for (int64_t b0 = 0; b0 < B; b0 += TILE) {
    const int64_t nb = std::min<int64_t>(TILE, B - b0);
    for (int64_t j0 = 0; j0 < n; j0 += TILE) {
      const int64_t nj = std::min<int64_t>(TILE, n - j0);
      for (int64_t b = 0; b < nb; ++b)  // rows of x: contiguous reads
        for (int64_t j = 0; j < nj; ++j) tile[j][b] = quantize(x[(b0 + b) * n + j0 + j], scale, high);
      for (int64_t j = 0; j < nj; ++j)  // rows of out: contiguous writes
        std::memcpy(out + (j0 + j) * B + b0, tile[j], sizeof(float) * nb);
    }
  }
  return 0;
}

}  // extern "C"
