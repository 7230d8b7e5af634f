"""NLA (NeuraLUT-Assemble) jsc-openml training throughput vs a reference-style implementation.

Both sides train the published jsc-openml network (16 -> 320 -> 160 -> 80 -> 40 -> 20 -> 10 -> 5, node
F -> 64 -> 1 plus a linear skip, 6/3/8-bit signals) in the same run, on the same data and thread
count: first the dense grouping phase (``prelude_epochs``), then the sparse tree network.

* ours: ``lutsearch`` (``build_model("nla")`` + ``train_model``: prelude through ``TrainContext.fit``,
  then ``fit_module``; tensors indexed per batch, per-neuron sub-networks as batched matmuls).
* reference-style (written here, after MartaAndronic/NeuraLUT's ``SparseLinearNeq``/``train.py``):
  a ``DataLoader`` over a ``TensorDataset``; each sparse layer gathers its inputs, copies them
  ``width_n`` times (``repeat``) and runs ``SparseLinear`` = elementwise multiply + sum over an
  (n_out * width_n, F) weight; the dense phase multiplies the full input by dense weights of which
  only a masked part matters (``x @ (W * mask).T``, the LogicNets-style masked matmul) and adds the
  same exponential group regularizer. Quantizers/batch-norms are the same Brevitas modules (the
  reference's run through Brevitas' own autograd graph, ours through the fused learned-scale step).

Quantizers on both sides end Brevitas' statistics phase after one batch (``STATS_STEPS = 1``), so
the timed epochs are steady-state training. Prints samples/s for each phase and overall, the ratio,
and the truth-table time of the JSC model.
Run: ``python benchmarks/nla_throughput.py [--train-samples N] [--epochs E] [--threads T]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch starts OpenMP (see train_throughput.py)

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lutsearch.data import SplitData, load_dataset
from lutsearch.models import (
    _quant,
    build_model,
    family_plan,
)
from lutsearch.models._quant import make_act_quant, make_input_quant, set_fused_training
from lutsearch.train import TrainConfig, train_model

JSC_OPENML = dict(
    widths=[320, 160, 80, 40, 20, 10],
    support_layers=[0, 1, 1, 1, 1, 1, 1],
    input_bits=6,
    hidden_bits=3,
    output_bits=8,
    support_bits=3,
    input_fan_in=1,
    fan_in=2,
    output_fan_in=2,
    support_fan_in=2,
    neuron_width=64,
    neuron_depth=2,
    skip=True,
    group_lambda1=1e-4,
    group_lambda2=0.07,
)


def jsc_data(n_train: int, seed: int = 0) -> SplitData:
    try:
        data = load_dataset("jsc", split_seed=seed, val_fraction=0.1, variant="pythia")
        source = data.variant
    except Exception as exc:  # no JSC copy: random features of the same shape (timing only)
        print(f"(jsc unavailable: {exc}; using random 16-feature data)")
        rng = np.random.default_rng(seed)
        X = rng.random((n_train + 1024, 16), dtype=np.float32)
        y = rng.integers(0, 5, len(X))
        data = SplitData(
            "random", "random", X[:n_train], y[:n_train], X[n_train:], y[n_train:], X[n_train:], y[n_train:], 5
        )
        source = "random"
    rng = np.random.default_rng(seed)
    tr = rng.permutation(len(data.y_train))[:n_train]
    va = rng.permutation(len(data.y_val))[:1024]
    return SplitData(
        data.name,
        source,
        data.X_train[tr],
        data.y_train[tr],
        data.X_val[va],
        data.y_val[va],
        data.X_val[va],
        data.y_val[va],
        5,
    )


# ----------------------------------------------------------------------------- reference style
class RefSparseLinear(nn.Linear):
    """The reference's SparseLinear: weight (out, in) applied row-wise by multiply + sum."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.weight).sum(dim=-1) + self.bias


class RefNLALayer(nn.Module):
    """One reference-style layer: sparse (gather, copy, multiply-sum) or dense (masked matmul)."""

    def __init__(self, p, width: int, dense: bool, gen: torch.Generator) -> None:
        super().__init__()
        self.p, self.width, self.dense = p, width, dense
        n, F = p.n_out, p.fan_in
        if dense:
            self.fc1 = nn.Linear(p.n_in, n * width)
            self.res = nn.Linear(p.n_in, n)
            self.register_buffer("mask1", torch.ones(n * width, p.n_in))  # dense phase: everything on
            self.register_buffer("mask_res", torch.ones(n, p.n_in))
        else:
            self.register_buffer("imask", torch.argsort(torch.rand(n, p.n_in, generator=gen), 1)[:, :F])
            self.fc1 = RefSparseLinear(F, n * width)
            self.res = RefSparseLinear(F, n)
        self.fc4 = RefSparseLinear(width, n)
        self.bn = nn.BatchNorm1d(n)
        self.quant = make_act_quant(p.out_bits, p.out_signed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, n, W = x.shape[0], self.p.n_out, self.width
        if self.dense:
            h = x @ (self.fc1.weight * self.mask1).t() + self.fc1.bias
            r = x @ (self.res.weight * self.mask_res).t() + self.res.bias
        else:
            xs = x[:, self.imask]  # (B, n, F)
            r = self.res(xs)
            xs = xs.repeat(1, 1, W).reshape(B, n * W, self.p.fan_in)  # copy each neuron's inputs W times
            h = self.fc1(xs)
        h = torch.relu(h).reshape(B, n, W)
        return self.quant(self.bn(self.fc4(h) + r))


class RefNLA(nn.Module):
    def __init__(self, plans, width: int, dense: bool, seed: int) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.input_quant = make_input_quant(plans[0].in_bits)
        self.layers = nn.ModuleList(RefNLALayer(p, width, dense, gen) for p in plans)
        set_fused_training(self, False)  # the reference trains through Brevitas' own quantizer graph

    def forward(self, x):
        x = self.input_quant(x)
        for layer in self.layers:
            x = layer(x)
        return x

    def regularizer(self, lam1: float, lam2: float) -> torch.Tensor:
        rows = torch.cat([torch.cat([l.fc1.weight.abs().sum(1), l.res.weight.abs().sum(1)]) for l in self.layers])
        return lam1 * (torch.pow(2, lam2 * rows) - 1).sum()


def ref_train(model: RefNLA, data: SplitData, epochs: int, batch: int, lr: float, reg) -> float:
    loader = DataLoader(
        TensorDataset(torch.from_numpy(data.X_train), torch.from_numpy(data.y_train)), batch_size=batch, shuffle=True
    )
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.5, 0.999), weight_decay=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    t0 = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for xb, yb in loader:
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            if reg is not None:
                loss = loss + reg()
            loss.backward()
            opt.step()
    return time.perf_counter() - t0


# ----------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-samples", type=int, default=8192)
    ap.add_argument("--epochs", type=int, default=1, help="epochs of each phase (dense, then sparse)")
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("BENCH_THREADS", "0")))
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    os.environ.setdefault("LUTSEARCH_DATA_DIR", "/work/shared/data")
    # Both sides: Brevitas' statistics phase lasts 1 batch instead of 300, so that the few timed epochs
    # are steady-state training (the phase is < 0.1% of a published 1,025-epoch run).
    _quant.STATS_STEPS = 1
    data = jsc_data(args.train_samples)
    n, E, B = len(data.y_train), args.epochs, args.batch_size
    print(
        f"data: {data.variant}, {n} training samples, batch {B}, {E} epoch(s) per phase, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}"
    )

    # ours: prelude (dense grouping) + sparse training, through the library's trainer
    cfg = TrainConfig(epochs=E, batch_size=B, lr=3e-3, weight_decay=1e-3)
    ours = build_model("nla", dict(JSC_OPENML, prelude_epochs=E), 16, 5, 0)
    t0 = time.perf_counter()
    res = train_model(ours, data, cfg, seed=0)
    t_ours = time.perf_counter() - t0
    t_ours_dense = ours.grouping_history["seconds"]
    t_ours_sparse = t_ours - t_ours_dense

    # reference style: dense phase, then a fresh sparse model
    plans = family_plan("nla", ours.config["params"], 16, 5)
    torch.manual_seed(0)
    dense = RefNLA(plans, 64, dense=True, seed=0)
    t_ref_dense = ref_train(dense, data, E, B, 3e-3, lambda: dense.regularizer(1e-4, 0.07))
    sparse = RefNLA(plans, 64, dense=False, seed=0)
    t_ref_sparse = ref_train(sparse, data, E, B, 3e-3, None)
    t_ref = t_ref_dense + t_ref_sparse

    sps = lambda t: n * E / t  # noqa: E731
    print(f"{'phase':<22}{'ours samples/s':>16}{'reference samples/s':>22}{'ratio':>8}")
    for name, a, b in (
        ("dense grouping", t_ours_dense, t_ref_dense),
        ("sparse tree training", t_ours_sparse, t_ref_sparse),
    ):
        print(f"{name:<22}{sps(a):>16.0f}{sps(b):>22.0f}{b / a:>8.2f}")
    print(
        f"{'overall':<22}{2 * n * E / t_ours:>16.0f}{2 * n * E / t_ref:>22.0f}{t_ref / t_ours:>8.2f}   (target >= 10x)"
    )
    pub = (25 * t_ref_dense + 1000 * t_ref_sparse) / (25 * t_ours_dense + 1000 * t_ours_sparse)
    print(f"{'published schedule':<22}{'(25 dense : 1000 sparse epochs)':>38}{pub:>8.2f}")
    print(f"(ours includes one validation pass per epoch on {len(data.y_val)} samples; val acc {res.best_val_acc:.3f})")

    t0 = time.perf_counter()
    net = ours.to_tables()
    t_tab = time.perf_counter() - t0
    entries = sum(l.tables.size for l in net.layers)
    print(f"truth tables (JSC config, {len(net.layers)} layers, {entries} entries): {t_tab:.2f} s (target < 5 s)")
    codes = ours.input_codes(data.X_val)
    assert np.array_equal(ours.predict_codes(codes), net.evaluate(codes)), "tables disagree with the model"


if __name__ == "__main__":
    main()
