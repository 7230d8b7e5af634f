// LogicNets neurons (y = bias + sum_f w_f * x_f over the F inputs) for layer.h's fused training step.
//
// Written by hand because no library fuses the gather, these products, batch-norm and the quantizer
// (see layer.h). LANES samples per vector (common.h); weight gradients accumulate per lane and are
// summed once per neuron. Parameters (float32, C-contiguous): w (n, F), bias (n), gradients alike.
#include "layer.h"

namespace {

using namespace lutsearch_native;

// Mirrored by lutsearch.models._native.linear.LinearArgs (ctypes).
struct Linear {
  int64_t n, F;
  const float* w;
  const float* bias;
  float* gw;  // (n, F), backward
  float* gb;  // (n), backward
};

struct LinearKernel {
  using Args = Linear;

  struct Worker {
    const Linear& p;
    int64_t B;
    std::vector<float> acc;  // F + 1 vectors: weight and bias gradient lanes

    Worker(const Linear& lin, bool, int64_t batch) : p(lin), B(batch), acc((lin.F + 1) * LANES) {}

    void forward(int64_t i, const float* const* rows, int64_t xs, float* y) {
      const float* w = p.w + i * p.F;
      for (int64_t b0 = 0; b0 < B; b0 += LANES) {
        const int cnt = (int)std::min<int64_t>(LANES, B - b0);
        vf s = vbcast(p.bias[i]);
        for (int64_t f = 0; f < p.F; ++f) s += vbcast(w[f]) * load_strided(rows[f] + b0 * xs, xs, cnt);
        store_part(y + b0, s, cnt);
      }
    }

    void backward(int64_t i, const float* const* rows, int64_t xs, const float* g, float* const* grows,
                  int64_t gs) {
      const float* w = p.w + i * p.F;
      std::fill(acc.begin(), acc.end(), 0.f);
      float* gb = acc.data() + p.F * LANES;
      for (int64_t b0 = 0; b0 < B; b0 += LANES) {
        const int cnt = (int)std::min<int64_t>(LANES, B - b0);
        const vf gv = load_part(g + b0, cnt);  // zero past the batch: adds nothing
        vstore(gb, vload(gb) + gv);
        for (int64_t f = 0; f < p.F; ++f) {
          float* a = acc.data() + f * LANES;
          vstore(a, vload(a) + gv * load_strided(rows[f] + b0 * xs, xs, cnt));
          if (grows) store_strided(grows[f] + b0 * gs, gs, gv * vbcast(w[f]), cnt);
        }
      }
      for (int64_t f = 0; f < p.F; ++f) p.gw[i * p.F + f] = hsum(vload(acc.data() + f * LANES));
      p.gb[i] = hsum(vload(gb));
    }
  };
};

}  // namespace

extern "C" {

// Returns 0, 2 (invalid arguments), 3 (out of memory).
int lutsearch_linear_layer(const LayerArgs* a, const Linear* p, int backward, int nthreads) {
  if (p->n != a->n || p->F != a->F) return 2;
  return backward ? layer_backward<LinearKernel>(*a, *p, nthreads) : layer_forward<LinearKernel>(*a, *p, nthreads);
}

}  // extern "C"
