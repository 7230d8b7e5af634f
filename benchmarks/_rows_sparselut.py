"""``train_throughput.py`` row: SparseLUT connectivity on NeuraLUT JSC-5L.

* Ours: ``spaces/baselines/neuralut_jsc_5l.yaml`` with ``connectivity: sparselut`` (4 candidates per
  slot), timed in the sparsification phase (before the transition epoch T, the costly phase: every
  slot mixes its K candidates). Its layers take the fused native step on the mixed slot values.
* Reference style (SparseLUT's public description, written here, not copied): each layer keeps a dense
  (n_out * F, n_in) weight matrix times a (0/1) mask of the candidate connections, multiplies it with
  the whole layer input (one dense matmul) to form the slot values, then the neuron function; NeuraLUT's
  neurons in their own reference style (``train_throughput.RefSubNetworkNeurons``), Brevitas'
  quantizer graph, PyTorch's AdamW, as the public code trains.
* Plain: NeuraLUT JSC-5L with random connectivity as lutsearch trains it (fused native layers).
Target: within 2x of plain (ours_sps >= 0.5 * plain_sps).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import yaml
from _rows import ExtraRow
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
SPACE = ROOT / "spaces" / "baselines" / "neuralut_jsc_5l.yaml"


def _params(**extra) -> dict:
    return {**yaml.safe_load(SPACE.read_text())["model"]["params"], **extra}


def build_ours(n_features: int, n_classes: int, seed: int) -> nn.Module:
    from lutsearch.models import build_model

    return build_model("neuralut", _params(connectivity="sparselut", sparse_candidates=4), n_features, n_classes, seed)


def build_plain(n_features: int, n_classes: int, seed: int) -> nn.Module:
    from lutsearch.models import build_model

    return build_model("neuralut", _params(), n_features, n_classes, seed)


def build_reference(n_features: int, n_classes: int, seed: int) -> nn.Module:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from train_throughput import RefSubNetworkNeurons

    from lutsearch.models import LUTLayer, LUTNetwork, plan_layers, random_indices
    from lutsearch.models._quant import set_fused_training
    from lutsearch.models._registry import resolve_params

    params = resolve_params("neuralut", _params())
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    K = 4

    class DenseMaskedCandidates(LUTLayer):
        """Slot values = x @ (W * mask)^T over the whole input, then the neuron function."""

        def __init__(self, n_in: int, p) -> None:
            super().__init__(
                RefSubNetworkNeurons(p.n_out, p.fan_in, params["hidden_width"]),
                random_indices(p.n_in, p.n_out, p.fan_in, gen),
                in_bits=p.in_bits,
                in_signed=p.in_signed,
                out_bits=p.out_bits,
                out_signed=p.out_signed,
                batch_norm=params["batch_norm"],
            )
            k = max(1, min(K, n_in // p.fan_in))
            pool = torch.argsort(torch.rand(p.n_out, n_in, generator=gen), dim=1)[:, : p.fan_in * k]
            mask = torch.zeros(p.n_out, p.fan_in, n_in)
            mask.scatter_(2, pool.view(p.n_out, p.fan_in, k), 1.0)
            self.register_buffer("mask", mask.view(p.n_out * p.fan_in, n_in))
            self.weight = nn.Parameter(torch.rand(p.n_out * p.fan_in, n_in) * 0.5 / k)

        def gather(self, x):
            v = torch.nn.functional.linear(x, self.weight * self.mask)
            return v.view(x.shape[0], self.n_out, self.fan_in)

    layers = [DenseMaskedCandidates(p.n_in, p) for p in plan_layers(params, n_features, n_classes)]
    model = LUTNetwork(n_features, params["input_bits"], layers)
    set_fused_training(model, False)  # the reference code trains with Brevitas' own quantizer graph
    return model


ROWS = [
    ExtraRow(
        name="sparselut-neuralut-jsc-5l",
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
