// The network's input quantizer for a fused training step: x (B, n) sample-major, as data arrives,
// to feature-major (n, B) codes * scale, as the fused layers (layer.h) read them, in one pass.
//
// Written by hand because PyTorch needs four passes plus a strided transpose for this (~0.6 ms per
// MNIST batch of 256 x 784 on the development machine, this ~0.1 ms). The values are those of
// lutsearch.models._quant.InputQuant's training path, op for op in float32:
// clamp(rint(x / scale), 0, high) * scale (rint: ties to even, as torch.round).
#include "common.h"

namespace {

using namespace lutsearch_native;

// clamp(rint(v / scale), 0, high) * scale for 16 values; NaN stays NaN, as with torch.clamp.
inline vf quantize(vf v, vf scale, vf high) {
  const vf z = v / scale;
  // clamped before rounding (vrint is exact below 2^22); the same codes as clamping after
  const vf c = vmin(vmax(vrint(vmin(vmax(z, vbcast(-1.f)), high + vbcast(1.f))), vf{}), high) * scale;
  return z == z ? c : z;
}

}  // namespace

extern "C" {

// Returns 0, or 2 (negative sizes, or a non-positive scale or high).
int lutsearch_quantize_transposed(const float* x, int64_t B, int64_t n, float scale, float high, float* out) {
  if (B < 0 || n < 0 || !(scale > 0.f) || !(high > 0.f)) return 2;
  const vf vscale = vbcast(scale), vhigh = vbcast(high);
  alignas(64) float rows[LANES][LANES], cols[LANES][LANES];
  for (int64_t b0 = 0; b0 < B; b0 += LANES) {
    const int nb = (int)std::min<int64_t>(LANES, B - b0);
    for (int64_t j0 = 0; j0 < n; j0 += LANES) {
      const int nj = (int)std::min<int64_t>(LANES, n - j0);
      for (int b = 0; b < nb; ++b)  // 16 features of a sample: one contiguous vector
        vstore(rows[b], quantize(load_part(x + (b0 + b) * n + j0, nj), vscale, vhigh));
      for (int j = 0; j < nj; ++j)
        for (int b = 0; b < nb; ++b) cols[j][b] = rows[b][j];
      for (int j = 0; j < nj; ++j) std::memcpy(out + (j0 + j) * B + b0, cols[j], sizeof(float) * nb);
    }
  }
  return 0;
}

}  // extern "C"
