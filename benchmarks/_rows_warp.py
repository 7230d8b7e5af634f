"""``train_throughput.py`` row: WARP-LUT on JSC.

The configuration (``PARAMS``) is a point of ``spaces/jsc.yaml``'s ``warp`` branch: three hidden
layers of 128 nodes, 3-bit inputs thermometer-coded into 16 * 7 = 112 bits, 4-input nodes throughout
(16 Walsh coefficients per node: the higher-input case the WARP-LUTs paper names, arXiv:2510.15655,
and the middle of the space's fan-in range 2-6), 16 output nodes per class. Batch 1024.

* Ours: ``build_model("warp", PARAMS)``: layers feature-major, each node's expansion a bilinear form
  (a batched matmul), the thermometer layer read as tables (``lutsearch.models.warp._WalshLayer``).
* Reference style (WARP-LUTs' public description, written here, not copied): every node builds its 2^k
  Walsh basis products of its (B, n, k) gathered inputs explicitly, one product per subset, and takes
  a dot product with its coefficients; Gumbel-sigmoid with autograd throughout.
* Plain: a LogicNets network of the same widths and fan-ins (linear neurons, batch-norm, 1-bit
  learned-scale outputs, lutsearch's fused native layers) on the same thermometer bits, with the same
  per-class popcount logits.
Target: within 2x of plain (ours_sps >= 0.5 * plain_sps).
"""

from __future__ import annotations

import torch
from _rows import ExtraRow
from torch import nn

PARAMS = dict(widths=[128, 128, 128], input_bits=3, input_fan_in=4, fan_in=4, output_fan_in=4, group_size=16)


def build_ours(n_features: int, n_classes: int, seed: int) -> nn.Module:
    from lutsearch.models import build_model

    return build_model("warp", PARAMS, n_features, n_classes, seed)


def build_reference(n_features: int, n_classes: int, seed: int) -> nn.Module:
    from lutsearch.models.warp import WARPNetwork

    model = build_ours(n_features, n_classes, seed)

    def basis(z):  # (B, n, k) -> (B, n, 2^k): subset S = bit pattern, one product each
        out = [torch.ones_like(z[..., 0])]
        for j in range(z.shape[-1]):
            out = out + [b * z[..., j] for b in out]
        return torch.stack(out, dim=-1)

    class RefWARP(WARPNetwork):
        def _group_counts(self, x):
            if not self.training:
                return super()._group_counts(x)
            for layer in self.layers:
                f = (basis(2.0 * x[:, layer.indices] - 1.0) * layer.coeffs).sum(-1)
                if layer.gumbel:
                    u = torch.rand_like(f).clamp(1e-6, 1 - 1e-6)
                    f = f + torch.log(u) - torch.log1p(-u)
                x = torch.sigmoid(f / layer.tau)
            return x.reshape(x.shape[0], self.n_classes, self.group_size).sum(-1)

    model.__class__ = RefWARP
    return model


def build_plain(n_features: int, n_classes: int, seed: int) -> nn.Module:
    from lutsearch.models import LUTLayer, LUTNetwork, family_plan
    from lutsearch.models._base import run_layers
    from lutsearch.models._quant import to_codes
    from lutsearch.models.logicnets import LinearNeurons
    from lutsearch.models.warp import thermometer

    ours = build_ours(n_features, n_classes, seed)
    plans = [p for p in family_plan("warp", ours.config["params"], n_features, n_classes) if p.in_bits == 1]
    layers = [
        LUTLayer(
            LinearNeurons(p.n_out, p.fan_in),
            w.indices,
            in_bits=1,
            in_signed=False,
            out_bits=1,
            out_signed=False,
            batch_norm=True,
        )
        for p, w in zip(plans, ours.layers)
    ]

    class PlainLogicNets(LUTNetwork):
        def forward(self, x):
            with torch.no_grad():
                bits = thermometer(to_codes(self.input_quant, x), self.input_bits).to(x.dtype)
            h = run_layers(self.layers, bits)
            return h.view(h.shape[0], n_classes, -1).sum(-1) / ours.group_tau

    return PlainLogicNets(n_features, PARAMS["input_bits"], layers)


ROWS = [
    ExtraRow(
        name="warp-jsc",
        n_features=16,
        n_classes=5,
        batch=1024,
        build_ours=build_ours,
        build_reference=build_reference,
        build_plain=build_plain,
        target="within 2x of plain",
        target_met=lambda r: r.vs_plain is not None and r.vs_plain >= 0.5,
    )
]
