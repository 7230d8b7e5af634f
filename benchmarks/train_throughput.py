"""Training throughput: lutsearch's vectorized neuron functions vs reference-style implementations.

For each published configuration (read from ``spaces/baselines/*.yaml``) two networks are built with
the same layer plan, batch-norm and Brevitas quantizers; they differ only in how the neurons compute:

* Ours: each whole layer (gather, neurons, batch-norm, quantizer) is one fused C++ kernel call per
  direction (``lutsearch.models._native``: ``layer.h`` around ``subnet.cpp``, ``polynomial.cpp``,
  ``linear.cpp``), where a C++ compiler exists and ``LUTSEARCH_NATIVE`` is not ``0`` (the benchmark
  prints which path ran); otherwise the PyTorch path: per-neuron batched matmuls (NeuraLUT),
  monomials built degree by degree with one product each (PolyLUT), a gather and a multiply-sum
  (LogicNets).
* NeuraLUT, reference style (MartaAndronic/NeuraLUT ``SparseLinearNeq.forward``): every neuron's
  input is copied N times (``repeat``) and each sub-layer is an elementwise multiply-sum against a
  (n_out*N, d_in) weight.
* PolyLUT, reference style (MartaAndronic/PolyLUT ``SparseLinearNeq.forward``):
  ``x.unsqueeze(-2).pow(exponents).prod(-1)`` per monomial.
* All reference styles train their quantizers through Brevitas' own autograd graph, as the public
  code does; ours use lutsearch's fused learned-scale step (``lutsearch.models._quant``), which
  gives the same values and gradients.
* LogicNets, reference style (Xilinx/logicnets ``SparseLinear``): a dense (n_out, n_in) weight times
  a 0/1 fan-in mask, then a dense matmul.

The reference-style modules are re-implemented here from the description above (not copied) and
only exist in this benchmark. Each timed step is forward + cross-entropy + backward + AdamW on a
random batch (JSC-shaped: 16 features, 5 classes, batch 1024; MNIST-shaped: 784, 10, batch 256).
Steps of the two implementations are interleaved and the median step time is reported, which keeps
the ratio fair on a machine shared with other jobs. Ours (and the floor) step AdamW with the fused
kernel, as ``lutsearch.train`` does; the reference with PyTorch's default, as its code does. Timed
steps are steady-state training: every model's quantizers are first moved past Brevitas' 300-step
statistics phase (``init_scale``).

    python benchmarks/train_throughput.py [--steps 5] [--threads 2] [--only neuralut-jsc-5l ...]
    python benchmarks/train_throughput.py --paths   # ours on its three training paths, side by side

``--paths`` times lutsearch's own model on each of its training paths, steps interleaved: whole
fused layers (``LUTSEARCH_NATIVE=fused``), the neuron kernels alone inside PyTorch's gather /
batch-norm / quantizer (``neurons``: what a layer without a fused step gets), PyTorch alone
(``torch``) and the default ``auto`` (the fastest per kind of layer, measured once on this CPU), with
the paths auto chose. ``LUTSEARCH_NATIVE_MARCH=x86-64-v3`` builds the kernels as for an AVX2-only CPU.

OpenMP threads wait passively (``OMP_WAIT_POLICY=PASSIVE`` unless set): on a machine shared with
other jobs, spinning threads made 2-thread steps up to ~10x slower than 1-thread ones.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch starts its OpenMP runtime

import torch
import torch.nn.functional as F
import yaml
from brevitas.core.scaling.standalone import ParameterFromRuntimeStatsScaling
from torch import nn

from lutsearch.models import LUTLayer, LUTNetwork, NeuronFunction, build_model, plan_layers, random_indices
from lutsearch.models._native import choice as native_choice
from lutsearch.models._native import load_library, native_mode
from lutsearch.models._native import march as native_march
from lutsearch.models._quant import set_fused_training
from lutsearch.models._registry import COMMON_KNOBS, resolve_params
from lutsearch.models.logicnets import build_layers
from lutsearch.models.polylut import monomial_structure

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _rows import ExtraRow, RowResult, extra_rows

ROOT = Path(__file__).resolve().parents[1]

# name -> (baseline space file, n_features, n_classes, batch size)
CONFIGS = {
    "neuralut-jsc-5l": ("neuralut_jsc_5l.yaml", 16, 5, 1024),
    "neuralut-mnist": ("neuralut_mnist.yaml", 784, 10, 256),
    "polylut-jsc-xl": ("polylut_jsc_xl.yaml", 16, 5, 1024),
    "polylut-jsc-m-lite": ("polylut_jsc_m_lite.yaml", 16, 5, 1024),
    "logicnets-jsc-s": ("logicnets_jsc_s.yaml", 16, 5, 1024),
}
TARGETS = {"neuralut": 20.0, "polylut": 50.0}
# lutsearch's native kernels keep helper threads spinning for 2 ms after a call (common.h); waiting
# longer than that before each timed reference step keeps them from competing with it for the CPU.
HELPERS_ASLEEP = 0.005


# ----------------------------------------------------------------------------- reference styles
class RefSubNetworkNeurons(NeuronFunction):
    """NeuraLUT reference style: L = 4 layers, skips res0 (F->N) and res1 (N->1), copy-then-multiply-sum."""

    def __init__(self, n_out: int, fan_in: int, width: int) -> None:
        super().__init__(n_out, fan_in)
        self.width = width

        def lin(rows, d_in):
            bound = 1.0 / d_in**0.5
            return (
                nn.Parameter(torch.empty(rows, d_in).uniform_(-bound, bound)),
                nn.Parameter(torch.empty(rows).uniform_(-bound, bound)),
            )

        n = n_out * width
        self.fc1_w, self.fc1_b = lin(n, fan_in)
        self.fc2_w, self.fc2_b = lin(n, width)
        self.fc3_w, self.fc3_b = lin(n, width)
        self.fc4_w, self.fc4_b = lin(n_out, width)
        self.res0_w, self.res0_b = lin(n, fan_in)
        self.res1_w, self.res1_b = lin(n_out, width)

    @staticmethod
    def _lin(x, w, b):
        return (x * w).sum(-1) + b

    def _spread(self, x):  # (B, n_out, d) -> (B, n_out*N, d): each neuron's input copied N times
        batch, n_out, d = x.shape
        return x.repeat(1, 1, self.width).reshape(batch, n_out * self.width, d)

    def forward(self, x):
        batch = x.shape[0]
        x = self._spread(x)
        r0 = self._lin(x, self.res0_w, self.res0_b)
        x = torch.relu(self._lin(x, self.fc1_w, self.fc1_b))
        x = self._spread(x.reshape(batch, self.n_out, self.width))
        x = torch.relu(self._lin(x, self.fc2_w, self.fc2_b) + r0)
        x = x.reshape(batch, self.n_out, self.width)
        r1 = self._lin(x, self.res1_w, self.res1_b)
        x = torch.relu(self._lin(self._spread(x), self.fc3_w, self.fc3_b))
        x = x.reshape(batch, self.n_out, self.width)
        return self._lin(x, self.fc4_w, self.fc4_b) + r1


class RefPolynomialNeurons(NeuronFunction):
    """PolyLUT reference style: every monomial as pow(x, exponents).prod over the fan-in."""

    def __init__(self, n_out: int, fan_in: int, degree: int) -> None:
        super().__init__(n_out, fan_in)
        exps = monomial_structure(fan_in, degree)[2].to(torch.float32)
        self.register_buffer("mask", exps)
        bound = 1.0 / exps.shape[0] ** 0.5
        self.weight = nn.Parameter(torch.empty(n_out, exps.shape[0]).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n_out).uniform_(-bound, bound))

    def forward(self, x):
        x = x.unsqueeze(-2).pow(self.mask).prod(dim=-1)
        return (x * self.weight).sum(-1) + self.bias


class RefDenseMaskedLayer(LUTLayer):
    """LogicNets reference style: dense weight * 0/1 mask, then a dense matmul over all inputs."""

    def __init__(self, n_in: int, indices: torch.Tensor, **kw) -> None:
        n_out, fan_in = indices.shape
        super().__init__(NeuronFunction(n_out, fan_in), indices, **kw)
        mask = torch.zeros(n_out, n_in)
        mask.scatter_(1, indices, 1.0)
        self.register_buffer("mask", mask)
        bound = 1.0 / fan_in**0.5
        self.weight = nn.Parameter(torch.empty(n_out, n_in).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n_out).uniform_(-bound, bound))

    def preactivation(self, x):
        return self.bn(F.linear(x, self.weight * self.mask, self.bias))


def reference_model(family: str, params: dict, n_inputs: int, n_classes: int, seed: int) -> LUTNetwork:
    params = resolve_params(family, params)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    if family == "neuralut":
        if params["hidden_depth"] != 4 or not params["skip"]:
            raise ValueError("the reference NeuraLUT layout is fixed at L = 4 with skips")
        layers = build_layers(
            params, n_inputs, n_classes, gen, lambda p: RefSubNetworkNeurons(p.n_out, p.fan_in, params["hidden_width"])
        )
    elif family == "polylut":
        layers = build_layers(
            params, n_inputs, n_classes, gen, lambda p: RefPolynomialNeurons(p.n_out, p.fan_in, params["degree"])
        )
    elif family == "logicnets":
        layers = [
            RefDenseMaskedLayer(
                p.n_in,
                random_indices(p.n_in, p.n_out, p.fan_in, gen),
                in_bits=p.in_bits,
                in_signed=p.in_signed,
                out_bits=p.out_bits,
                out_signed=p.out_signed,
                batch_norm=params["batch_norm"],
            )
            for p in plan_layers(params, n_inputs, n_classes)
        ]
    else:
        raise ValueError(family)
    model = LUTNetwork(n_inputs, params["input_bits"], layers)
    set_fused_training(model, False)  # the reference code trains with Brevitas' own quantizer graph
    return model


# ----------------------------------------------------------------------------- timing
def load_baseline(fname: str) -> tuple[str, dict, int]:
    space = yaml.safe_load((ROOT / "spaces" / "baselines" / fname).read_text())
    family, params = space["model"]["family"], dict(space["model"]["params"])
    if any(isinstance(v, dict) for v in params.values()):
        raise ValueError(f"{fname} is not a single-point space")
    return family, params, int(space.get("seed", 0))


def end_statistics_phase(model: nn.Module) -> None:
    """Move every learned-scale quantizer past Brevitas' statistics phase (its first 300 steps, under
    0.2% of a published 500-epoch run): the timed steps are then the steady state of training."""
    for module in model.modules():
        if isinstance(module, ParameterFromRuntimeStatsScaling):
            module.init_scale()


def make_stepper(model: nn.Module, x: torch.Tensor, y: torch.Tensor, fused: bool):
    """``fused``: the single-kernel AdamW lutsearch's trainer uses; the reference code uses the default."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=fused or None)
    model.train()

    def step() -> float:
        t0 = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return time.perf_counter() - t0

    return step


def setup(name: str):
    """(family, params, seed, n_features, n_classes, x, y) of a configuration: its baseline space and
    one random batch of its shape."""
    fname, n_features, n_classes, batch = CONFIGS[name]
    family, params, seed = load_baseline(fname)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(batch, n_features, generator=gen)
    y = torch.randint(0, n_classes, (batch,), generator=gen)
    return family, params, seed, n_features, n_classes, x, y


def bench(name: str, steps: int) -> dict:
    family, params, seed, n_features, n_classes, x, y = setup(name)
    batch = len(x)
    # The floor: the same layer plan with LogicNets' linear neurons (same gather, batch-norm,
    # quantizers, loss and AdamW). ref / floor bounds any neuron-function speed-up.
    common = {k: v for k, v in params.items() if k in COMMON_KNOBS}
    models = (
        build_model(family, params, n_features, n_classes, seed),
        reference_model(family, params, n_features, n_classes, seed),
        build_model("logicnets", common, n_features, n_classes, seed),
    )
    ours, ref, floor = (make_stepper(m, x, y, fused) for m, fused in zip(models, (True, False, True)))
    ours(), ref(), floor()  # warm-up (allocator, Brevitas' first statistics step)
    for m in models:
        end_statistics_phase(m)
    ours(), ref(), floor()
    t_ours, t_ref, t_floor = [], [], []
    for _ in range(steps):  # interleaved, so all see the same machine load
        time.sleep(HELPERS_ASLEEP)  # untimed: our kernels' helper threads are asleep when the reference runs
        t_ref.append(ref())
        t_ours.append(ours())
        t_floor.append(floor())
    m_ours, m_ref, m_floor = (statistics.median(t) for t in (t_ours, t_ref, t_floor))
    return {
        "name": name,
        "family": family,
        "batch": batch,
        "ref_sps": batch / m_ref,
        "ours_sps": batch / m_ours,
        "speedup": m_ref / m_ours,
        "ceiling": m_ref / m_floor,
        "target": TARGETS.get(family),
        "choice": auto_choice(models[0], batch),
    }


def bench_extra(row: ExtraRow, steps: int) -> RowResult:
    """One ``_rows_*.py`` row: ours, the reference style and (if any) the plain model of the same size,
    steps interleaved, every model past Brevitas' statistics phase first."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(row.batch, row.n_features, generator=gen)
    y = torch.randint(0, row.n_classes, (row.batch,), generator=gen)
    builders = [(row.build_ours, row.ours_fused_adamw), (row.build_reference, False)]
    if row.build_plain is not None:
        builders.append((row.build_plain, True))
    models = [build(row.n_features, row.n_classes, 0) for build, _ in builders]
    steppers = [make_stepper(m, x, y, fused) for m, (_, fused) in zip(models, builders)]
    for s in steppers:
        s()
    for m in models:
        end_statistics_phase(m)
    for s in steppers:
        s()
    times: list[list[float]] = [[] for _ in steppers]
    for _ in range(steps):
        for s, t in zip(steppers, times):
            time.sleep(HELPERS_ASLEEP)
            t.append(s())
    sps = [row.batch / statistics.median(t) for t in times]
    return RowResult(ours_sps=sps[0], ref_sps=sps[1], plain_sps=sps[2] if len(sps) > 2 else None)


# lutsearch's training paths and the LUTSEARCH_NATIVE value that forces each; "auto" is the default,
# the fastest path per kind of layer as measured on this CPU (lutsearch.models._native.choice)
PATHS = {"fused layers": "fused", "neuron kernels": "neurons", "PyTorch": "torch", "auto": "auto"}


@contextlib.contextmanager
def training_path(path: str):
    """Within: lutsearch models train on ``path`` (a key of ``PATHS``)."""
    saved_env = os.environ.get("LUTSEARCH_NATIVE")
    os.environ["LUTSEARCH_NATIVE"] = PATHS[path]
    try:
        yield
    finally:
        if saved_env is None:
            os.environ.pop("LUTSEARCH_NATIVE", None)
        else:
            os.environ["LUTSEARCH_NATIVE"] = saved_env


def auto_choice(model: nn.Module, batch: int) -> str:
    """The paths ``auto`` took for the model's layers, e.g. ``fused`` or ``4 fused + 1 torch``."""
    paths = [native_choice.describe(layer, batch) for layer in model.modules() if isinstance(layer, LUTLayer)]
    counts = {p: paths.count(p) for p in dict.fromkeys(paths)}
    return next(iter(counts)) if len(counts) == 1 else " + ".join(f"{n} {p}" for p, n in counts.items())


def compare_paths(name: str, steps: int) -> dict:
    family, params, seed, n_features, n_classes, x, y = setup(name)
    batch = len(x)
    model = build_model(family, params, n_features, n_classes, seed)
    step = make_stepper(model, x, y, True)
    step()
    end_statistics_phase(model)
    times = {path: [] for path in PATHS}
    for path in PATHS:  # warm-up of each path; auto's measures its choices here (once per CPU) unless cached
        with training_path(path):
            step()
    for _ in range(steps):
        for path in PATHS:
            with training_path(path):
                time.sleep(HELPERS_ASLEEP)
                times[path].append(step())
    return {
        "name": name,
        "choice": auto_choice(model, batch),
        **{path: batch / statistics.median(t) for path, t in times.items()},
    }


def parse_args(argv, extras: dict[str, ExtraRow]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=5, help="timed steps per implementation (median taken)")
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    ap.add_argument("--only", nargs="*", choices=sorted(CONFIGS) + sorted(extras), help="run only these configurations")
    ap.add_argument("--paths", action="store_true", help="compare lutsearch's own training paths instead")
    return ap.parse_args(argv)


def run_paths(names: list[str], steps: int, threads: int) -> None:
    """``--paths``: lutsearch's own model on each training path, one row per configuration."""
    print(
        f"CPU: {native_choice.cpu_model()}; kernels built with -march={native_march()}; "
        f"{threads} threads; auto's choices cached in {native_choice.choice_file()}"
    )
    print(
        f"{'config':<20}" + "".join(f"{p + ' (samples/s)':>27}" for p in PATHS) + f"{'auto chose':>22}"
        f"{'fused / neurons':>17}{'fused / PyTorch':>17}{'auto / PyTorch':>16}"
    )
    slow = []
    for name in names:
        r = compare_paths(name, steps)
        fused, torch_sps, auto = r["fused layers"], r["PyTorch"], r["auto"]
        print(
            f"{name:<20}" + "".join(f"{r[p]:>27.0f}" for p in PATHS) + f"{r['choice']:>22}"
            f"{fused / r['neuron kernels']:>16.2f}x{fused / torch_sps:>16.2f}x{auto / torch_sps:>15.2f}x",
            flush=True,
        )
        if auto < 0.95 * torch_sps:
            slow.append(name)
    if slow:
        print(f"auto below 0.95x of PyTorch: {', '.join(slow)}")


def run_configs(names: list[str], steps: int) -> list[str]:
    """The published configurations, ours against the reference style; returns those below target."""
    kernels = all(load_library(stem) is not None for stem in ("subnet", "polynomial", "linear"))
    print(
        f"CPU: {native_choice.cpu_model()}; torch {torch.__version__}; LUTSEARCH_NATIVE={native_mode()}; "
        f"kernels {'built for -march=' + native_march() if kernels else 'not built (PyTorch path)'}"
    )
    rows = []
    print(
        f"{'config':<20}{'batch':>6}{'reference (samples/s)':>24}{'lutsearch (samples/s)':>24}{'speed-up':>10}"
        f"{'target':>8}{'ceiling':>9}  path (ours)"
    )
    for name in names:
        r = bench(name, steps)
        rows.append(r)
        target = f">={r['target']:.0f}x" if r["target"] else "-"
        print(
            f"{name:<20}{r['batch']:>6}{r['ref_sps']:>24.0f}{r['ours_sps']:>24.0f}{r['speedup']:>9.1f}x{target:>8}"
            f"{r['ceiling']:>8.1f}x  {r['choice']}",
            flush=True,
        )
    return [r["name"] for r in rows if r["target"] and r["speedup"] < r["target"]]


def run_extra_rows(extras: dict[str, ExtraRow], todo: list[str], steps: int) -> list[str]:
    """The ``_rows_*.py`` rows named in ``todo``; returns those that missed their target."""
    missed = []
    if todo:
        print(
            f"\n{'config':<24}{'batch':>6}{'reference (samples/s)':>24}{'lutsearch (samples/s)':>24}"
            f"{'speed-up':>10}{'plain (samples/s)':>19}{'vs plain':>10}  target"
        )
    for name in todo:
        row = extras[name]
        r = bench_extra(row, steps)
        plain = f"{r.plain_sps:>19.0f}{r.vs_plain:>9.2f}x" if r.plain_sps is not None else f"{'-':>19}{'-':>10}"
        met = "met" if row.target_met(r) else "MISSED"
        print(
            f"{name:<24}{row.batch:>6}{r.ref_sps:>24.0f}{r.ours_sps:>24.0f}{r.speedup:>9.1f}x{plain}  "
            f"{row.target}: {met}",
            flush=True,
        )
        if not row.target_met(r):
            missed.append(name)
    return missed


def main(argv=None) -> int:
    extras = extra_rows()
    args = parse_args(argv, extras)
    torch.set_num_threads(args.threads)
    names = [n for n in (args.only or CONFIGS) if n in CONFIGS]
    if args.paths:
        run_paths(names, args.steps, args.threads)
        return 0
    missed = run_configs(names, args.steps)
    todo = [name for name in extras if not args.only or name in args.only]
    missed += run_extra_rows(extras, todo, args.steps)
    if missed:
        print(f"below target: {', '.join(missed)}")
    print(
        "ceiling = reference step time / step time of the same network with LogicNets' linear neurons "
        "(trained as ours are)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
