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
// The neurons run inside layer.h's driver (gather by row pointers, batch-norm, quantizer), or alone
// (``norm`` and ``quant`` off) when lutsearch's PyTorch layer calls them on gathered inputs.
// Parameters (float32, C-contiguous): w (n, M), bias (n), and their gradients gw, gb; groups
// (G, 4) int64 rows {par, out, len, var}; monomial 0 is the constant.
#include "layer.h"

namespace {

using namespace lutsearch_native;

struct Poly {
  int64_t n, F, M, G;
  const int64_t* groups;
  const float* w;
  const float* bias;
  float* gw;  // (n, M), backward
  float* gb;  // (n), backward
};

struct PolyKernel {
  using Args = Poly;

  struct Worker {
    const Poly& p;
    int64_t B;
    std::vector<float> xv, mono, adj, gw, gxv;  // per block: F, M, M vectors; gw: M vectors; gxv: F

    Worker(const Poly& poly, bool, int64_t batch) : p(poly), B(batch) {
      xv.assign(p.F * LANES, 0.f);
      mono.assign(p.M * LANES, 0.f);
      adj.assign(p.M * LANES, 0.f);
      gw.assign(p.M * LANES, 0.f);
      gxv.assign(p.F * LANES, 0.f);
    }
    float* V(std::vector<float>& a, int64_t m) { return a.data() + m * LANES; }

    void load_inputs(const float* const* rows, int64_t xs, int64_t b0, int cnt) {
      for (int64_t f = 0; f < p.F; ++f) vstore(V(xv, f), load_strided(rows[f] + b0 * xs, xs, cnt));
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

    void forward(int64_t i, const float* const* rows, int64_t xs, float* y) {
      for (int64_t b0 = 0; b0 < B; b0 += LANES) {
        const int cnt = (int)std::min<int64_t>(LANES, B - b0);
        load_inputs(rows, xs, b0, cnt);
        store_part(y + b0, forward_block(p.w + i * p.M, p.bias[i]), cnt);
      }
    }

    void backward(int64_t i, const float* const* rows, int64_t xs, const float* g, float* const* grows,
                  int64_t gs) {
      const float* w = p.w + i * p.M;
      std::fill(gw.begin(), gw.end(), 0.f);
      for (int64_t b0 = 0; b0 < B; b0 += LANES) {
        const int cnt = (int)std::min<int64_t>(LANES, B - b0);
        load_inputs(rows, xs, b0, cnt);
        gradient_block(w, load_part(g + b0, cnt));  // zero past the batch: adds nothing
        if (!grows) continue;
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
          vstore(V(gxv, j), vload(V(gxv, j)) + dxj);
        }
        for (int64_t f = 0; f < p.F; ++f) store_strided(grows[f] + b0 * gs, gs, vload(V(gxv, f)), cnt);
      }
      for (int64_t m = 0; m < p.M; ++m) p.gw[i * p.M + m] = hsum(vload(V(gw, m)));
      p.gb[i] = hsum(vload(V(gw, 0)));  // the constant monomial's gradient is the bias's
    }
  };
};

bool valid(const Poly& p, const LayerArgs& a) {  // every group reads earlier monomials, writes the next
  if (p.n != a.n || p.F != a.F || p.M < 1 || p.G < 0) return false;
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

// Returns 0, 2 (invalid arguments, e.g. groups that do not tile monomials 1 .. M-1 in order from
// earlier ones), 3 (out of memory).
int lutsearch_poly_layer(const LayerArgs* a, const Poly* p, int backward, int nthreads) {
  if (!valid(*p, *a)) return 2;
  return backward ? layer_backward<PolyKernel>(*a, *p, nthreads) : layer_forward<PolyKernel>(*a, *p, nthreads);
}

}  // extern "C"
