// PolyLUT neurons (y = bias + sum_m w_m * monomial_m(x), every monomial of the F inputs up to degree
// D): fused training forward and backward on CPU, float32.
//
// Written by hand because no library fuses this: PyTorch materializes the (neurons, M, batch)
// monomial buffer and streams it through memory for the products, the linear map and both
// gradients. Here each neuron works on 16 samples at a time (one AVX-512 vector, two AVX2 ones:
// common.h) with its monomials in L1, in the order lutsearch.models.polylut fixes: monomials come
// in G groups, group g being monomials out[g] .. out[g] + len[g] - 1 = monomials par[g] ..
// par[g] + len[g] - 1 times input var[g] (a prefix of the previous degree's block times one input).
// The backward recomputes them and differentiates through that product tree, groups in reverse:
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

// Samples per block: 16 (BV vectors of LANES). Narrower vectors take several per block, so each
// weight broadcast and each step through the monomial groups serves 16 samples at every width
// (on AVX2 one vector per block ran PolyLUT JSC-XL ~20 % slower).
constexpr int BV = LANES >= 16 ? 1 : 16 / LANES;
constexpr int BS = BV * LANES;

struct PolyKernel {
  using Args = Poly;

  struct Worker {
    const Poly& p;
    int64_t B;
    std::vector<float> xv, mono, adj, gw, gxv;  // per block: F, M, M blocks; gw: M blocks; gxv: F

    Worker(const Poly& poly, bool, int64_t batch) : p(poly), B(batch) {
      xv.assign(p.F * BS, 0.f);
      mono.assign(p.M * BS, 0.f);
      adj.assign(p.M * BS, 0.f);
      gw.assign(p.M * BS, 0.f);
      gxv.assign(p.F * BS, 0.f);
    }
    // vector v of block m of a
    float* V(std::vector<float>& a, int64_t m, int v) { return a.data() + m * BS + v * LANES; }
    static int part(int cnt, int v) { return std::max(0, std::min(LANES, cnt - v * LANES)); }

    void load_inputs(const float* const* rows, int64_t xs, int64_t b0, int cnt) {
      for (int64_t f = 0; f < p.F; ++f)
        for (int v = 0; v < BV; ++v)
          vstore(V(xv, f, v), load_strided(rows[f] + (b0 + v * LANES) * xs, xs, part(cnt, v)));
    }

    // Monomials of the loaded block and y = bias + w . monomials (two independent FMA chains per vector).
    void forward_block(const float* w, float bias, vf y[BV]) {
      vf acc0[BV], acc1[BV];
      for (int v = 0; v < BV; ++v) {
        vstore(V(mono, 0, v), vbcast(1.f));
        acc0[v] = vbcast(bias) + vbcast(w[0]);
        acc1[v] = vf{};
      }
      for (int64_t g = 0; g < p.G; ++g) {
        const int64_t* gr = p.groups + 4 * g;
        const int64_t par = gr[0], out = gr[1], len = gr[2];
        vf xj[BV];
        for (int v = 0; v < BV; ++v) xj[v] = vload(V(xv, gr[3], v));
        int64_t k = 0;
        for (; k + 2 <= len; k += 2) {
          const vf w0 = vbcast(w[out + k]), w1 = vbcast(w[out + k + 1]);
          for (int v = 0; v < BV; ++v) {
            const vf m0 = vload(V(mono, par + k, v)) * xj[v], m1 = vload(V(mono, par + k + 1, v)) * xj[v];
            vstore(V(mono, out + k, v), m0);
            vstore(V(mono, out + k + 1, v), m1);
            acc0[v] += w0 * m0;
            acc1[v] += w1 * m1;
          }
        }
        if (k < len) {
          const vf w0 = vbcast(w[out + k]);
          for (int v = 0; v < BV; ++v) {
            const vf m0 = vload(V(mono, par + k, v)) * xj[v];
            vstore(V(mono, out + k, v), m0);
            acc0[v] += w0 * m0;
          }
        }
      }
      for (int v = 0; v < BV; ++v) y[v] = acc0[v] + acc1[v];
    }

    // Same monomials; instead of y: gw += g * monomial, adjoint = w * g.
    void gradient_block(const float* w, const vf gv[BV]) {
      const vf w0 = vbcast(w[0]);
      for (int v = 0; v < BV; ++v) {
        vstore(V(mono, 0, v), vbcast(1.f));
        vstore(V(gw, 0, v), vload(V(gw, 0, v)) + gv[v]);
        vstore(V(adj, 0, v), w0 * gv[v]);
      }
      for (int64_t g = 0; g < p.G; ++g) {
        const int64_t* gr = p.groups + 4 * g;
        const int64_t par = gr[0], out = gr[1], len = gr[2];
        vf xj[BV];
        for (int v = 0; v < BV; ++v) xj[v] = vload(V(xv, gr[3], v));
        for (int64_t k = 0; k < len; ++k) {
          const vf wk = vbcast(w[out + k]);
          for (int v = 0; v < BV; ++v) {
            const vf mo = vload(V(mono, par + k, v)) * xj[v];
            vstore(V(mono, out + k, v), mo);
            vstore(V(gw, out + k, v), vload(V(gw, out + k, v)) + gv[v] * mo);
            vstore(V(adj, out + k, v), wk * gv[v]);
          }
        }
      }
    }

    void forward(int64_t i, const float* const* rows, int64_t xs, float* y) {
      for (int64_t b0 = 0; b0 < B; b0 += BS) {
        const int cnt = (int)std::min<int64_t>(BS, B - b0);
        load_inputs(rows, xs, b0, cnt);
        vf out[BV];
        forward_block(p.w + i * p.M, p.bias[i], out);
        for (int v = 0; v < BV && v * LANES < cnt; ++v) store_part(y + b0 + v * LANES, out[v], part(cnt, v));
      }
    }

    void backward(int64_t i, const float* const* rows, int64_t xs, const float* g, float* const* grows,
                  int64_t gs) {
      const float* w = p.w + i * p.M;
      std::fill(gw.begin(), gw.end(), 0.f);
      for (int64_t b0 = 0; b0 < B; b0 += BS) {
        const int cnt = (int)std::min<int64_t>(BS, B - b0);
        load_inputs(rows, xs, b0, cnt);
        vf gv[BV];
        for (int v = 0; v < BV; ++v) gv[v] = load_part(g + b0 + v * LANES, part(cnt, v));  // zero past the batch
        gradient_block(w, gv);
        if (!grows) continue;
        std::fill(gxv.begin(), gxv.end(), 0.f);
        for (int64_t gi = p.G - 1; gi >= 0; --gi) {  // degree by degree downwards: children first
          const int64_t* gr = p.groups + 4 * gi;
          const int64_t par = gr[0], out = gr[1], len = gr[2], j = gr[3];
          vf xj[BV], dxj[BV];
          for (int v = 0; v < BV; ++v) { xj[v] = vload(V(xv, j, v)); dxj[v] = vf{}; }
          for (int64_t k = 0; k < len; ++k)
            for (int v = 0; v < BV; ++v) {
              const vf a = vload(V(adj, out + k, v));
              dxj[v] += a * vload(V(mono, par + k, v));
              vstore(V(adj, par + k, v), vload(V(adj, par + k, v)) + a * xj[v]);
            }
          for (int v = 0; v < BV; ++v) vstore(V(gxv, j, v), vload(V(gxv, j, v)) + dxj[v]);
        }
        for (int64_t f = 0; f < p.F; ++f)
          for (int v = 0; v < BV && v * LANES < cnt; ++v)
            store_strided(grows[f] + (b0 + v * LANES) * gs, gs, vload(V(gxv, f, v)), part(cnt, v));
      }
      for (int64_t m = 0; m < p.M; ++m) {
        vf s = vload(V(gw, m, 0));
        for (int v = 1; v < BV; ++v) s += vload(V(gw, m, v));
        p.gw[i * p.M + m] = hsum(s);
      }
      p.gb[i] = p.gw[i * p.M];  // the constant monomial's gradient is the bias's
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
