// NeuraLUT sub-networks (per-neuron MLPs F -> N x (L-1) -> 1, ReLU between, a linear skip around
// every two layers): fused training forward and backward on CPU, float32.
//
// Written by hand because no library fuses many tiny independent MLPs: PyTorch runs each sub-layer
// as a batched matmul over neurons, which streams every (neurons, batch, N) activation through
// memory several times per step. Here one neuron's whole MLP runs on a block of S samples held in
// registers and L1; the backward recomputes the block's forward instead of reading saved
// activations. Vectors are as wide as the target's registers (common.h: 16, 8 or 4 floats); hidden
// widths up to 64 are padded to a power-of-two number of whole vectors with zero weights, and a block
// holds as many samples as the register file keeps accumulators for (``block_samples``). Plain C++
// without PyTorch headers: it builds in a few seconds and is loaded with ctypes by
// lutsearch.models._native, which falls back to the PyTorch path when it cannot build.
//
// The neurons run inside layer.h's driver (gather by row pointers, batch-norm, quantizer), or alone
// (``norm`` and ``quant`` off) when lutsearch's PyTorch layer calls them on gathered inputs.
// Parameters (float32, C-contiguous): layer l weight (n, d_out, d_in) and bias (n, d_out), dims =
// F, N, ..., N, 1; skip k maps layer 2k's input to layer 2k+1's pre-activation: (n, dims[2k+2],
// dims[2k]); their gradients in the same layouts.
#include "layer.h"

namespace {

using namespace lutsearch_native;

// One linear map of one neuron, packed: WT (d_in rows of P floats: column k of W), Wrow (d_out
// rows of P floats: row j of W), bias (P floats). The maps into the neuron's output (``scalar``:
// d_out 1, the last layer and the last skip) are dot products with Wrow[0]; hidden maps are
// vectors over d_out (even a hidden width of 1).
template <int NV>
struct Map {
  static constexpr int P = NV * LANES;
  int d_in = 0, d_out = 0;
  bool scalar = false;
  std::vector<float> WT, Wrow, bias;
  std::vector<float> gWT, gb;  // gradient accumulators (backward only)
  void init(int din, int dout, bool out_map, bool grads) {
    d_in = din; d_out = dout; scalar = out_map;
    WT.assign((size_t)std::max(din, 1) * P, 0.f);
    Wrow.assign((size_t)std::max(dout, 1) * P, 0.f);
    bias.assign(P, 0.f);
    if (grads) { gWT.assign(WT.size(), 0.f); gb.assign(P, 0.f); }
  }
  void load(const float* w, const float* b) {  // w: (d_out, d_in), b: (d_out)
    for (int j = 0; j < d_out; ++j)
      for (int k = 0; k < d_in; ++k) {
        WT[(size_t)k * P + j] = w[j * d_in + k];
        Wrow[(size_t)j * P + k] = w[j * d_in + k];
      }
    for (int j = 0; j < d_out; ++j) bias[j] = b[j];
    std::fill(gWT.begin(), gWT.end(), 0.f);
    std::fill(gb.begin(), gb.end(), 0.f);
  }
  void store_grads(float* gw, float* gbias) const {
    if (scalar) {  // accumulated as one row over the inputs
      for (int k = 0; k < d_in; ++k) gw[k] = gWT[k];
      gbias[0] = gb[0];
      return;
    }
    for (int j = 0; j < d_out; ++j)
      for (int k = 0; k < d_in; ++k) gw[j * d_in + k] = gWT[(size_t)k * P + j];
    for (int j = 0; j < d_out; ++j) gbias[j] = gb[j];
  }
};

// Mirrored by lutsearch.models._native.subnet.SubnetArgs (ctypes).
struct Args {
  int64_t n, F, N, L, n_skips;
  const float* const* W; const float* const* Bs;   // per layer: (n, d_out, d_in), (n, d_out)
  const float* const* SW; const float* const* SB;  // per skip
  float* const* gW; float* const* gB; float* const* gSW; float* const* gSB;  // backward
  int64_t dims[10];  // filled in by the entry point
};

template <int NV, int S>
struct Worker {
  static constexpr int P = NV * LANES;
  const Args& a;
  int64_t L, n_skips;
  std::vector<Map<NV>> maps, skips;
  // Activations of one block: in[l][s] = input of layer l for sample s (P floats, in act).
  std::vector<float> act;
  float* in[10][S];
  float zs[S];  // scalar outputs

  int64_t B;

  Worker(const Args& args, bool bwd, int64_t batch) : a(args), L(args.L), n_skips(args.n_skips), B(batch) {
    maps.resize(L);
    skips.resize(n_skips);
    for (int l = 0; l < L; ++l) maps[l].init(a.dims[l], a.dims[l + 1], l == L - 1, bwd);
    for (int b = 0; b < n_skips; ++b) skips[b].init(a.dims[2 * b], a.dims[2 * b + 2], 2 * b + 2 == L, bwd);
    act.assign((size_t)L * S * P, 0.f);
    for (int l = 0; l < L; ++l)
      for (int s = 0; s < S; ++s) in[l][s] = act.data() + ((size_t)l * S + s) * P;
  }

  // copies the block's inputs into in[0] (zeros for samples past the batch)
  void load_block(const float* const* rows, int64_t xs, int64_t b0, int cnt) {
    const int64_t F = a.F;
    for (int s = 0; s < S; ++s) {
      float* x0 = in[0][s];
      for (int f = 0; f < F; ++f) x0[f] = s < cnt ? rows[f][(b0 + s) * xs] : 0.f;
    }
  }

  // z[s] += sum_k a[s][k] * WT[k] for a hidden map
  static inline void affine(const Map<NV>& m, float* const in[S], vf z[S][NV]) {
    for (int k = 0; k < m.d_in; ++k) {
      const float* wk = m.WT.data() + (size_t)k * P;
      for (int v = 0; v < NV; ++v) {
        vf w = vload(wk + v * LANES);
        for (int s = 0; s < S; ++s) z[s][v] += vbcast(in[s][k]) * w;
      }
    }
  }
  // out[s] = Wrow[0] . a[s] + bias for an output map
  static inline void dot(const Map<NV>& m, float* const in[S], float out[S]) {
    vf acc[S];
    for (int s = 0; s < S; ++s) acc[s] = vf{};
    for (int v = 0; v < NV; ++v) {
      vf w = vload(m.Wrow.data() + v * LANES);
      for (int s = 0; s < S; ++s) acc[s] += vload(in[s] + v * LANES) * w;
    }
    for (int s = 0; s < S; ++s) out[s] = hsum(acc[s]) + m.bias[0];
  }

  // forward of the loaded block: writes every hidden layer's input to in[l], the outputs to zs
  void forward_block() {
    vf pend[S][NV] = {};  // the running skip's output (d_out > 1, or the scalar pend1)
    float pend1[S] = {};
    for (int l = 0; l < L; ++l) {
      const Map<NV>& m = maps[l];
      const bool skip_start = (l % 2 == 0) && (l / 2 < n_skips);
      const bool skip_end = (l % 2 == 1) && (l / 2 < n_skips);
      if (skip_start) {
        const Map<NV>& k = skips[l / 2];
        if (k.scalar) {
          dot(k, in[l], pend1);
        } else {
          for (int s = 0; s < S; ++s)
            for (int v = 0; v < NV; ++v) pend[s][v] = vload(k.bias.data() + v * LANES);
          affine(k, in[l], pend);
        }
      }
      if (m.scalar) {  // the last layer
        dot(m, in[l], zs);
        if (skip_end)
          for (int s = 0; s < S; ++s) zs[s] += pend1[s];
      } else {
        vf z[S][NV];
        for (int s = 0; s < S; ++s)
          for (int v = 0; v < NV; ++v) {
            vf bv = vload(m.bias.data() + v * LANES);
            z[s][v] = skip_end ? pend[s][v] + bv : bv;
          }
        affine(m, in[l], z);
        for (int s = 0; s < S; ++s)
          for (int v = 0; v < NV; ++v) vstore(in[l + 1][s] + v * LANES, relu(z[s][v]));
      }
    }
  }

  void load_neuron(int64_t i) {
    for (int l = 0; l < L; ++l) {
      const Map<NV>& m = maps[l];
      maps[l].load(a.W[l] + i * m.d_out * m.d_in, a.Bs[l] + i * m.d_out);
    }
    for (int b = 0; b < n_skips; ++b) {
      const Map<NV>& k = skips[b];
      skips[b].load(a.SW[b] + i * k.d_out * k.d_in, a.SB[b] + i * k.d_out);
    }
  }

  void forward(int64_t i, const float* const* rows, int64_t xs, float* y) {
    load_neuron(i);
    for (int64_t b0 = 0; b0 < B; b0 += S) {
      int cnt = (int)std::min<int64_t>(S, B - b0);
      load_block(rows, xs, b0, cnt);
      forward_block();
      for (int s = 0; s < cnt; ++s) y[b0 + s] = zs[s];
    }
  }

  // gradient of a map: weights and bias from dz (dz1 for an output map), input gradient added to
  // gin when ``input_grad``
  static inline void map_backward(Map<NV>& m, float* const in[S], const vf dz[S][NV], const float dz1[S],
                                  vf gin[S][NV], bool input_grad) {
    if (m.scalar) {
      for (int v = 0; v < NV; ++v) {
        vf acc = vload(m.gWT.data() + v * LANES);
        vf w = vload(m.Wrow.data() + v * LANES);
        for (int s = 0; s < S; ++s) acc += vbcast(dz1[s]) * vload(in[s] + v * LANES);
        if (input_grad)
          for (int s = 0; s < S; ++s) gin[s][v] += vbcast(dz1[s]) * w;
        vstore(m.gWT.data() + v * LANES, acc);
      }
      float gb = 0.f;
      for (int s = 0; s < S; ++s) gb += dz1[s];
      m.gb[0] += gb;
      return;
    }
    for (int k = 0; k < m.d_in; ++k) {
      float* gk = m.gWT.data() + (size_t)k * P;
      for (int v = 0; v < NV; ++v) {
        vf acc = vload(gk + v * LANES);
        for (int s = 0; s < S; ++s) acc += vbcast(in[s][k]) * dz[s][v];
        vstore(gk + v * LANES, acc);
      }
    }
    for (int v = 0; v < NV; ++v) {
      vf acc = vload(m.gb.data() + v * LANES);
      for (int s = 0; s < S; ++s) acc += dz[s][v];
      vstore(m.gb.data() + v * LANES, acc);
    }
    if (!input_grad) return;
    alignas(64) float dzs[S][P];
    for (int s = 0; s < S; ++s)
      for (int v = 0; v < NV; ++v) vstore(dzs[s] + v * LANES, dz[s][v]);
    for (int j = 0; j < m.d_out; ++j) {
      const float* wj = m.Wrow.data() + (size_t)j * P;
      for (int v = 0; v < NV; ++v) {
        vf w = vload(wj + v * LANES);
        for (int s = 0; s < S; ++s) gin[s][v] += vbcast(dzs[s][j]) * w;
      }
    }
  }

  void backward(int64_t i, const float* const* rows, int64_t xs, const float* g, float* const* grows,
                int64_t gs) {
    const int64_t F = a.F;
    load_neuron(i);
    for (int64_t b0 = 0; b0 < B; b0 += S) {
      int cnt = (int)std::min<int64_t>(S, B - b0);
      load_block(rows, xs, b0, cnt);
      forward_block();  // recomputed: cheaper than saving the activations (docs/performance.md)
      vf dz[S][NV] = {}, gsk[S][NV] = {};  // d loss / d pre-activation (dz1: of the output)
      float dz1[S] = {}, gsk1[S] = {};
      for (int s = 0; s < cnt; ++s) dz1[s] = g[b0 + s];
      for (int l = (int)L - 1; l >= 0; --l) {
        Map<NV>& m = maps[l];
        float* const* x_l = in[l];
        const bool skip_start = (l % 2 == 0) && (l / 2 < n_skips);
        const bool skip_end = (l % 2 == 1) && (l / 2 < n_skips);
        if (skip_end) {
          for (int s = 0; s < S; ++s) { gsk1[s] = dz1[s]; for (int v = 0; v < NV; ++v) gsk[s][v] = dz[s][v]; }
        }
        vf gin[S][NV];
        for (int s = 0; s < S; ++s)
          for (int v = 0; v < NV; ++v) gin[s][v] = vf{};
        const bool input_grad = l > 0 || grows;  // no d loss / d x when the inputs need none
        map_backward(m, x_l, dz, dz1, gin, input_grad);
        if (skip_start) map_backward(skips[l / 2], x_l, gsk, gsk1, gin, input_grad);
        if (l > 0) {  // through the ReLU that produced this layer's input
          for (int s = 0; s < S; ++s)
            for (int v = 0; v < NV; ++v) dz[s][v] = where_positive(vload(x_l[s] + v * LANES), gin[s][v]);
        } else if (grows) {
          for (int s = 0; s < cnt; ++s) {
            alignas(64) float tmp[P];
            for (int v = 0; v < NV; ++v) vstore(tmp + v * LANES, gin[s][v]);
            for (int f = 0; f < F; ++f) grows[f][(b0 + s) * gs] = tmp[f];
          }
        }
      }
    }
    for (int l = 0; l < L; ++l) {
      const Map<NV>& m = maps[l];
      m.store_grads(a.gW[l] + i * m.d_out * m.d_in, a.gB[l] + i * m.d_out);
    }
    for (int b = 0; b < n_skips; ++b) {
      const Map<NV>& k = skips[b];
      k.store_grads(a.gSW[b] + i * k.d_out * k.d_in, a.gSB[b] + i * k.d_out);
    }
  }
};

template <int NV, int S>
struct SubnetKernel {
  using Args = ::Args;
  using Worker = ::Worker<NV, S>;
};

template <int NV, int S>
int dispatch(const LayerArgs& layer, const Args& args, bool bwd, int nthreads) {
  return bwd ? layer_backward<SubnetKernel<NV, S>>(layer, args, nthreads)
             : layer_forward<SubnetKernel<NV, S>>(layer, args, nthreads);
}

// Samples per block for NV vectors per activation: as many as keep the block's accumulators (S * NV
// vectors) and the weights in registers, measured per register file (kernel-only timings of one
// layer, fwd + bwd, docs/performance.md): AVX-512's 32 registers take 6 samples of 2 or 4 vectors
// (1.4-1.6x faster than 4 and 2); 16 registers (AVX2, SSE, NEON) take 4 samples of 2 or 4 vectors
// and 3 of 8 (16-float blocks on AVX2, i.e. 8 samples of 2 vectors, spilled and ran 0.6x of PyTorch).
constexpr int block_samples(int NV) {
#if defined(__AVX512F__)
  return NV == 1 ? 8 : 6;
#else
  return NV == 1 ? 8 : NV <= 4 ? 4 : NV == 8 ? 3 : 1;
#endif
}

// floats per activation vector: max(F, N) rounded up to LANES times a power of two; 0 when wider than 64
int64_t padded_width(int64_t F, int64_t N) {
  const int64_t width = std::max(F, N);
  if (width > 64) return 0;
  int64_t p = LANES;
  while (p < width) p *= 2;
  return p;
}

// NV vectors per activation, block_samples(NV) samples per block
template <int NV>
int dispatch_width(const LayerArgs& layer, const Args& args, bool bwd, int nthreads) {
  if constexpr (NV * LANES > 64) {
    return 1;
  } else {
    return dispatch<NV, block_samples(NV)>(layer, args, bwd, nthreads);
  }
}

}  // namespace

extern "C" {

// Returns 0, 1 (a width over 64), 2 (depth outside 1..8, more skips than pairs of layers, or
// invalid layer arguments), 3 (out of memory).
int lutsearch_subnet_layer(const LayerArgs* layer, const Args* sub, int backward, int nthreads) {
  Args a = *sub;
  if (a.L < 1 || a.L > 8 || a.n_skips < 0 || 2 * a.n_skips > a.L || a.N < 1 || a.n != layer->n || a.F != layer->F)
    return 2;
  for (int l = 0; l <= a.L; ++l) a.dims[l] = l == 0 ? a.F : (l == a.L ? 1 : a.N);
  switch (padded_width(a.F, a.N) / LANES) {
    case 1: return dispatch_width<1>(*layer, a, backward, nthreads);
    case 2: return dispatch_width<2>(*layer, a, backward, nthreads);
    case 4: return dispatch_width<4>(*layer, a, backward, nthreads);
    case 8: return dispatch_width<8>(*layer, a, backward, nthreads);
    case 16: return dispatch_width<16>(*layer, a, backward, nthreads);
    default: return 1;
  }
}

}  // extern "C"
