"""Truth-table enumeration cost: wall time and peak memory of ``model.to_tables()``.

Each configuration (a published baseline from ``spaces/baselines/*.yaml``) runs in its own
subprocess, so the peak resident set size (``resource.getrusage``) belongs to that enumeration
alone: the model is built, one training-mode forward pass on random data sets batch-norm statistics
and quantizer scales, then ``to_tables()`` is timed. Reported: table entries enumerated, seconds,
the process's peak RSS and its growth during enumeration.

Targets: NeuraLUT JSC-5L < 2 s and < 1 GB; the MNIST configurations < 60 s.

    python benchmarks/truth_tables.py [--threads 2] [--only neuralut-jsc-5l ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# name -> (baseline space file, n_features, n_classes, target seconds, target peak GB)
CONFIGS = {
    "neuralut-jsc-5l": ("neuralut_jsc_5l.yaml", 16, 5, 2.0, 1.0),
    "neuralut-mnist": ("neuralut_mnist.yaml", 784, 10, 60.0, None),
    "polylut-jsc-xl": ("polylut_jsc_xl.yaml", 16, 5, None, None),
    "polylut-mnist": ("polylut_mnist.yaml", 784, 10, 60.0, None),
}


def _rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def child(name: str, threads: int) -> None:
    import resource
    import time

    import torch
    import yaml

    from lutsearch.models import build_model

    torch.set_num_threads(threads)
    fname, n_features, n_classes = CONFIGS[name][:3]
    space = yaml.safe_load((ROOT / "spaces" / "baselines" / fname).read_text())
    model = build_model(
        space["model"]["family"], space["model"]["params"], n_features, n_classes, int(space.get("seed", 0))
    )
    with torch.no_grad():
        model.train()(torch.rand(512, n_features, generator=torch.Generator().manual_seed(0)))
    model.eval()
    before = _rss_kb()
    t0 = time.perf_counter()
    net = model.to_tables()
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    entries = sum(layer.tables.size for layer in net.layers)
    print(
        json.dumps(
            {
                "name": name,
                "seconds": seconds,
                "entries": entries,
                "peak_mb": peak / 1024,
                "growth_mb": (peak - before) / 1024,
            }
        )
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", nargs="*", choices=sorted(CONFIGS))
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.child, args.threads)
        return 0
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    print(f"{'config':<18}{'entries':>12}{'seconds':>10}{'peak RSS MB':>14}{'growth MB':>12}  targets")
    for name in args.only or list(CONFIGS):
        out = subprocess.run(
            [sys.executable, __file__, "--child", name, "--threads", str(args.threads)],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
        )
        if out.returncode:
            print(f"{name}: failed\n{out.stderr[-2000:]}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        t_s, t_gb = CONFIGS[name][3:]
        marks = []
        if t_s:
            marks.append(f"< {t_s:g} s {'ok' if r['seconds'] < t_s else 'MISSED'}")
        if t_gb:
            marks.append(f"< {t_gb:g} GB {'ok' if r['peak_mb'] < t_gb * 1024 else 'MISSED'}")
        print(
            f"{name:<18}{r['entries']:>12,}{r['seconds']:>10.2f}{r['peak_mb']:>14.0f}{r['growth_mb']:>12.0f}  "
            + ", ".join(marks),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
