// PolyLUT neurons (y = bias + sum_m w_m * monomial_m(x), every monomial of the F inputs up to degree
// D): fused training forward and backward on CPU, float32.
//
// Written by hand because no library fuses this: PyTorch materializes the (neurons, M, batch)
// monomial buffer and streams it through memory for the products, the linear map and both
// gradients. Here each neuron works on 16 samples at a time (one vector, common.h) with its
// monomials in L1, in the order lutsearch.models.polylut fixes: monomials come in G groups, group
// g being monomials out[g] .. out[g] + len[g] - 1 = monomials par[g] .. par[g] + len[g] - 1 times
// input var[g] (a prefix of the previous degree's block times one input). The backward recomputes
// them and differentiates through that product tree, groups in reverse:
// adjoint[parent] += adjoint[child] * x_var and dx_var += adjoint[child] * monomial[parent],
// starting from adjoint[m] = w_m * g.
//
// Layouts (float32, C-contiguous): x (n, F, B), out and g (n, B), w (n, M), bias (n), gx (n, F, B);
// groups (G, 4) int64 rows {par, out, len, var}; monomial 0 is the constant.
#include "common.h"

namespace {

using namespace lutsearch_native;

struct Poly {
  int64_t n, F, M, B, G;
  const int64_t* groups;
  const float* x;
  const float* w;
  const float* bias;
};

// Loads 16 samples (zeros past the batch).
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

struct Worker {
  const Poly& p;
  std::vector<float> xv, mono, adj, gw;  // per block: F, M, M vectors; gw: M vectors (one neuron)

  explicit Worker(const Poly& poly) : p(poly) {
    xv.assign(p.F * LANES, 0.f);
    mono.assign(p.M * LANES, 0.f);
    adj.assign(p.M * LANES, 0.f);
    gw.assign(p.M * LANES, 0.f);
  }
  float* V(std::vector<float>& a, int64_t m) { return a.data() + m * LANES; }

  void load_inputs(int64_t i, int64_t b0, int cnt) {
    for (int64_t f = 0; f < p.F; ++f) vstore(V(xv, f), load_part(p.x + (i * p.F + f) * p.B + b0, cnt));
  }

  // Monomials of the loaded block and y = bias + w . monomials (two independent FMA chains).
  vf forward_block(const float* w, float bias) {
    vstore(V(mono, 0), vbcast(1.f));
    vf acc0 = vbcast(bias) + vbcast(w[0]), acc1 = vf{};
    for (int64_t g = 0; g < p.G; ++g) {
      const int64_t* gr = p.groups + 4 * g;
      const int64_t par = gr[0], out = gr[1], len = gr[2];
      const vf xj = vload(V(xv, gr[3]));
      int64_t k = 0;
      for (; k + 2 <= len; k += 2) {
        const vf m0 = vload(V(mono, par + k)) * xj, m1 = vload(V(mono, par + k + 1)) * xj;
        vstore(V(mono, out + k), m0);
        vstore(V(mono, out + k + 1), m1);
        acc0 += vbcast(w[out + k]) * m0;
        acc1 += vbcast(w[out + k + 1]) * m1;
      }
      if (k < len) {
        const vf m0 = vload(V(mono, par + k)) * xj;
        vstore(V(mono, out + k), m0);
        acc0 += vbcast(w[out + k]) * m0;
      }
    }
    return acc0 + acc1;
  }

  // Same monomials; instead of y: gw += g * monomial, adjoint = w * g.
  void gradient_block(const float* w, vf gv) {
    vstore(V(mono, 0), vbcast(1.f));
    vstore(V(gw, 0), vload(V(gw, 0)) + gv);
    vstore(V(adj, 0), vbcast(w[0]) * gv);
    for (int64_t g = 0; g < p.G; ++g) {
      const int64_t* gr = p.groups + 4 * g;
      const int64_t par = gr[0], out = gr[1], len = gr[2];
      const vf xj = vload(V(xv, gr[3]));
      for (int64_t k = 0; k < len; ++k) {
        const vf mo = vload(V(mono, par + k)) * xj;
        vstore(V(mono, out + k), mo);
        vstore(V(gw, out + k), vload(V(gw, out + k)) + gv * mo);
        vstore(V(adj, out + k), vbcast(w[out + k]) * gv);
      }
    }
  }

  void forward(int64_t i0, int64_t i1, float* out) {
    for (int64_t i = i0; i < i1; ++i)
      for (int64_t b0 = 0; b0 < p.B; b0 += LANES) {
        const int cnt = (int)std::min<int64_t>(LANES, p.B - b0);
        load_inputs(i, b0, cnt);
        store_part(out + i * p.B + b0, forward_block(p.w + i * p.M, p.bias[i]), cnt);
      }
  }

  void backward(int64_t i0, int64_t i1, const float* g, float* gx, float* gw_out, float* gb_out) {
    std::vector<float> gxv(p.F * LANES);
    for (int64_t i = i0; i < i1; ++i) {
      const float* w = p.w + i * p.M;
      std::fill(gw.begin(), gw.end(), 0.f);
      for (int64_t b0 = 0; b0 < p.B; b0 += LANES) {
        const int cnt = (int)std::min<int64_t>(LANES, p.B - b0);
        load_inputs(i, b0, cnt);
        gradient_block(w, load_part(g + i * p.B + b0, cnt));  // zero past the batch: adds nothing
        if (!gx) continue;
        std::fill(gxv.begin(), gxv.end(), 0.f);
        for (int64_t gi = p.G - 1; gi >= 0; --gi) {  // degree by degree downwards: children first
          const int64_t* gr = p.groups + 4 * gi;
          const int64_t par = gr[0], out = gr[1], len = gr[2], j = gr[3];
          const vf xj = vload(V(xv, j));
          vf dxj = vf{};
          for (int64_t k = 0; k < len; ++k) {
            const vf a = vload(V(adj, out + k));
            dxj += a * vload(V(mono, par + k));
            vstore(V(adj, par + k), vload(V(adj, par + k)) + a * xj);
          }
          vstore(gxv.data() + j * LANES, vload(gxv.data() + j * LANES) + dxj);
        }
        for (int64_t f = 0; f < p.F; ++f) store_part(gx + (i * p.F + f) * p.B + b0, vload(gxv.data() + f * LANES), cnt);
      }
      for (int64_t m = 0; m < p.M; ++m) gw_out[i * p.M + m] = hsum(vload(V(gw, m)));
      gb_out[i] = hsum(vload(V(gw, 0)));  // the constant monomial's gradient is the bias's
    }
  }
};

bool valid(const Poly& p) {  // every group reads earlier monomials and writes the next ones in order
  if (p.n < 0 || p.F < 1 || p.M < 1 || p.B < 0 || p.G < 0) return false;
  int64_t next = 1;
  for (int64_t g = 0; g < p.G; ++g) {
    const int64_t* gr = p.groups + 4 * g;
    if (gr[1] != next || gr[2] < 1 || gr[0] < 0 || gr[0] + gr[2] > gr[1] || gr[3] < 0 || gr[3] >= p.F) return false;
    next += gr[2];
  }
  return next == p.M;
}

}  // namespace

extern "C" {

// Returns 0, 2 (groups that do not tile monomials 1 .. M-1 in order from earlier ones), 3 (out of memory).
int lutsearch_poly_forward(int64_t n, int64_t F, int64_t M, int64_t B, int64_t G, const int64_t* groups,
                           const float* x, const float* w, const float* bias, float* out, int nthreads) {
  const Poly p{n, F, M, B, G, groups, x, w, bias};
  if (!valid(p)) return 2;
  return parallel_over_neurons(n, B, nthreads, [&](int64_t i0, int64_t i1) { Worker(p).forward(i0, i1, out); });
}

// gx may be null (no input gradient needed).
int lutsearch_poly_backward(int64_t n, int64_t F, int64_t M, int64_t B, int64_t G, const int64_t* groups,
                            const float* x, const float* w, const float* g, float* gx, float* gw, float* gb,
                            int nthreads) {
  const Poly p{n, F, M, B, G, groups, x, w, nullptr};
  if (!valid(p)) return 2;
  return parallel_over_neurons(n, B, nthreads, [&](int64_t i0, int64_t i1) {
    Worker(p).backward(i0, i1, g, gx, gw, gb);
  });
}

}  // extern "C"
