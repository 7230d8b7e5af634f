// One L-LUT layer's training step around a family's neuron kernel: gather (by row pointers, no
// copy), the neurons, batch-norm in training mode and the learned-scale quantizer, forward and
// backward, with activations kept feature-major: x (n_in, B), outputs (n, B).
//
// Written by hand because no library fuses these: PyTorch runs the gather, the batch-norm and the
// quantizer as ~20 separate ops per layer, each a pass over memory plus dispatch overhead, which
// on small L-LUT networks cost more than the neurons themselves (docs/performance.md).
//
// The values are those of lutsearch.models._base.LUTLayer's modules: torch.nn.BatchNorm1d in
// training mode (batch mean, biased variance for normalizing, unbiased for the running variance)
// and lutsearch.models._quant._LearnedScaleQuant (z = relu?(y) / s, code = clamp(rint(z), lo, hi),
// out = code * s; gradient passes where below < z < above). Sums run in float32 in their own order,
// so results agree with PyTorch to rounding, not bit for bit.
//
// A family's kernel (polynomial.cpp, subnet.cpp, linear.cpp) supplies ``Kernel::Worker`` with
//   Worker(const Kernel::Args&, bool backward, int64_t B);
//   void forward(int64_t i, const float* const* rows, int64_t xs, float* y);   // y[b], b < B
//   void backward(int64_t i, const float* const* rows, int64_t xs, const float* gy,
//                 float* const* grows, int64_t gs);
// where rows[f][b * xs] is input f of neuron i for sample b, and grows[f][b * gs] (grows nullptr:
// no input gradient) receives d loss / d that input; backward also writes neuron i's parameter
// gradients. The fused layer reads feature-major rows (xs = gs = 1); the neurons alone (no
// batch-norm, no quantizer) read PyTorch's gathered (B, n, F) tensor in place (xs = gs = n * F).
#pragma once
#include <cmath>

#include "common.h"

namespace lutsearch_native {

// Mirrored by lutsearch.models._native.layer.LayerArgs (ctypes): same fields, same order.
struct LayerArgs {
  int64_t n, F, B, n_in;  // neurons, fan-in, batch, rows of x
  const float* x;         // n_in rows: row j, sample b at x[j * xr + b * xs]
  const int64_t* idx;     // (n, F): rows of x each neuron reads
  int64_t xr, xs;         // strides of x: (B, 1) feature-major, (1, n * F) for gathered (B, n, F)
  float* pre;             // (n, B) neuron outputs: written by forward, read by backward
  float* out;             // (n, B) layer outputs (forward only; unused without norm and quant)
  int32_t norm, quant, relu, pad_;
  const float* gamma; const float* beta;
  float* running_mean; float* running_var;  // updated by forward
  float* mean; float* invstd;               // (n): written by forward, read by backward
  double eps, momentum;
  float scale, lo, hi, below, above, pad2_;
  const float* g;    // (n, B): d loss / d out (d loss / d pre without norm and quant)
  float* gxn;        // d loss / d input f of neuron i for sample b at gxn[(i * F + f) * gr + b * gs], or nullptr
  int64_t gr, gs;    // strides of gxn: (B, 1) feature-major (n, F, B), (1, n * F) for (B, n, F)
  float* gx;         // (n_in, B): gxn summed into the rows read, or nullptr
  float* ggamma; float* gbeta;  // (n)
  float* gscale;     // (n): each neuron's part of d loss / d s
};


namespace layer_detail {

// The quantizer's input z of a batch-normalized (or raw) row block.
struct RowMath {
  const LayerArgs& a;
  float alpha = 1.f, shift = 0.f, mu = 0.f, inv = 1.f;
  RowMath(const LayerArgs& args, int64_t i) : a(args) {
    if (a.norm) {
      mu = a.mean[i]; inv = a.invstd[i];
      alpha = a.gamma[i] * inv;
      shift = a.beta[i] - mu * alpha;
    }
  }
  vf normalized(vf y) const { return a.norm ? y * vbcast(alpha) + vbcast(shift) : y; }
  vf z(vf yhat) const {
    vf v = a.relu ? relu(yhat) : yhat;
    return v / vbcast(a.scale);
  }
  vf code(vf z) const {  // clamped first: rint is exact only below 2^22; same codes as clamp(rint(z))
    vf c = vmin(vmax(z, vbcast(a.lo - 1.f)), vbcast(a.hi + 1.f));
    return vmin(vmax(vrint(c), vbcast(a.lo)), vbcast(a.hi));
  }
};

// Batch statistics of row y (B samples), running-stat update, then out = quant(bn(y)).
inline void forward_row(const LayerArgs& a, int64_t i, const float* y, float* out) {
  const int64_t B = a.B;
  if (a.norm) {
    vf acc = vf{};
    int64_t b = 0;
    for (; b + LANES <= B; b += LANES) acc += vload(y + b);
    float sum = hsum(acc);
    for (; b < B; ++b) sum += y[b];
    const float mu = sum / (float)B;
    acc = vf{};
    for (b = 0; b + LANES <= B; b += LANES) { vf d = vload(y + b) - vbcast(mu); acc += d * d; }
    float sq = hsum(acc);
    for (; b < B; ++b) sq += (y[b] - mu) * (y[b] - mu);
    const double var = (double)sq / (double)B;
    a.mean[i] = mu;
    a.invstd[i] = (float)(1.0 / std::sqrt(var + a.eps));
    const double m = a.momentum;
    a.running_mean[i] = (float)((1.0 - m) * a.running_mean[i] + m * mu);
    a.running_var[i] = (float)((1.0 - m) * a.running_var[i] + m * (B > 1 ? (double)sq / (double)(B - 1) : var));
  }
  const RowMath r(a, i);
  for (int64_t b0 = 0; b0 < B; b0 += LANES) {
    const int cnt = (int)std::min<int64_t>(LANES, B - b0);
    vf v = r.normalized(load_part(y + b0, cnt));
    if (a.quant) v = r.code(r.z(v)) * vbcast(a.scale);
    store_part(out + b0, v, cnt);
  }
}

// d loss / d y of row i into gy (B floats); records d loss / d gamma, beta and s of neuron i.
inline void backward_row(const LayerArgs& a, int64_t i, const float* y, const float* g, float* gy) {
  const int64_t B = a.B;
  const RowMath r(a, i);
  vf s_gcode = vf{}, s_gz = vf{}, s_gp = vf{}, s_gpx = vf{};
  for (int64_t b0 = 0; b0 < B; b0 += LANES) {
    const int cnt = (int)std::min<int64_t>(LANES, B - b0);
    const vf yv = load_part(y + b0, cnt), gv = load_part(g + b0, cnt);  // gv = 0 past the batch
    vf gp = gv;
    if (a.quant) {
      const vf z = r.z(r.normalized(yv));
      gp = vmask(gv, (z > vbcast(a.below)) & (z < vbcast(a.above)));
      s_gcode += gv * r.code(z);
      s_gz += gp * z;
    }
    if (a.norm) {
      s_gp += gp;
      s_gpx += gp * ((yv - vbcast(r.mu)) * vbcast(r.inv));  // gp = 0 past the batch
    }
    store_part(gy + b0, gp, cnt);
  }
  if (a.quant) a.gscale[i] = hsum(s_gcode) - hsum(s_gz);
  if (!a.norm) return;
  const float dbeta = hsum(s_gp), dgamma = hsum(s_gpx);
  a.gbeta[i] = dbeta;
  a.ggamma[i] = dgamma;
  // d y = gamma * invstd / B * (B * gp - sum(gp) - xhat * sum(gp * xhat))
  const float k = a.gamma[i] * r.inv, kb = k * dbeta / (float)B, kx = k * dgamma / (float)B;
  for (int64_t b0 = 0; b0 < B; b0 += LANES) {
    const int cnt = (int)std::min<int64_t>(LANES, B - b0);
    const vf xhat = (load_part(y + b0, cnt) - vbcast(r.mu)) * vbcast(r.inv);
    store_part(gy + b0, vbcast(k) * load_part(gy + b0, cnt) - vbcast(kb) - xhat * vbcast(kx), cnt);
  }
}

inline void input_rows(const LayerArgs& a, int64_t i, const float** rows) {
  for (int64_t f = 0; f < a.F; ++f) rows[f] = a.x + a.idx[i * a.F + f] * a.xr;
}

}  // namespace layer_detail

inline bool valid_layer(const LayerArgs& a) {
  if (a.n < 0 || a.F < 1 || a.F > 64 || a.B < 1 || a.n_in < 1 || a.xr < 1 || a.xs < 1) return false;
  if (a.gxn && (a.gr < 1 || a.gs < 1)) return false;
  for (int64_t k = 0; k < a.n * a.F; ++k)
    if (a.idx[k] < 0 || a.idx[k] >= a.n_in) return false;
  return true;
}

// Returns 0, 2 (invalid arguments), 3 (out of memory).
template <class Kernel>
int layer_forward(const LayerArgs& a, const typename Kernel::Args& k, int nthreads) {
  if (!valid_layer(a) || ((a.norm || a.quant) && !a.out)) return 2;
  return parallel_over_neurons(a.n, a.B, nthreads, [&](int64_t i0, int64_t i1) {
    typename Kernel::Worker w(k, false, a.B);
    const float* rows[64];
    for (int64_t i = i0; i < i1; ++i) {
      layer_detail::input_rows(a, i, rows);
      float* y = a.pre + i * a.B;
      w.forward(i, rows, a.xs, y);
      if (a.norm || a.quant) layer_detail::forward_row(a, i, y, a.out + i * a.B);
    }
  });
}

template <class Kernel>
int layer_backward(const LayerArgs& a, const typename Kernel::Args& k, int nthreads) {
  // the scatter into gx reads gxn feature-major
  if (!valid_layer(a) || (a.gx && (!a.gxn || a.gr != a.B || a.gs != 1))) return 2;
  int rc = parallel_over_neurons(a.n, a.B, nthreads, [&](int64_t i0, int64_t i1) {
    typename Kernel::Worker w(k, true, a.B);
    std::vector<float> gy(a.norm || a.quant ? a.B : 0);
    const float* rows[64];
    float* grows[64];
    for (int64_t i = i0; i < i1; ++i) {
      layer_detail::input_rows(a, i, rows);
      const float* gi = a.g + i * a.B;
      if (a.norm || a.quant) {
        layer_detail::backward_row(a, i, a.pre + i * a.B, gi, gy.data());
        gi = gy.data();
      }
      if (a.gxn)
        for (int64_t f = 0; f < a.F; ++f) grows[f] = a.gxn + (i * a.F + f) * a.gr;
      w.backward(i, rows, a.xs, gi, a.gxn ? grows : nullptr, a.gs);
    }
  });
  if (rc || !a.gx) return rc;
  // gx[j] = sum of gxn[i, f] over the (i, f) that read row j, in (i, f) order: the same sums
  // whatever the number of threads. Rows no neuron reads get zeros.
  std::vector<int64_t> start(a.n_in + 1, 0), order(a.n * a.F);
  for (int64_t k2 = 0; k2 < a.n * a.F; ++k2) ++start[a.idx[k2] + 1];
  for (int64_t j = 0; j < a.n_in; ++j) start[j + 1] += start[j];
  std::vector<int64_t> fill(start.begin(), start.end() - 1);
  for (int64_t k2 = 0; k2 < a.n * a.F; ++k2) order[fill[a.idx[k2]]++] = k2;
  return parallel_over_neurons(a.n_in, a.B, nthreads, [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) {
      float* dst = a.gx + j * a.B;
      std::fill(dst, dst + a.B, 0.f);
      for (int64_t e = start[j]; e < start[j + 1]; ++e) {
        const float* src = a.gxn + order[e] * a.B;
        int64_t b = 0;
        for (; b + LANES <= a.B; b += LANES) vstore(dst + b, vload(dst + b) + vload(src + b));
        for (; b < a.B; ++b) dst[b] += src[b];
      }
    }
  });
}

}  // namespace lutsearch_native
