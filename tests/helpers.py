"""Small study spaces shared by the search tests."""

from __future__ import annotations

from pathlib import Path

SPACE = """
name: {name}
seed: 3
dataset: {{name: digits, val_fraction: 0.15}}
model:
  family: logicnets
  params:
    widths: {{per_layer: {{count: {{int: [1, 2]}}, int: [16, 48]}}}}
    input_bits: {{int: [1, 2]}}
    hidden_bits: 2
    output_bits: 3
    input_fan_in: {{int: [3, 5]}}
    fan_in: 3
    output_fan_in: 4
train: {{epochs: 2, batch_size: 64, lr: 1.0e-2}}
objectives: [accuracy, luts, depth]
constraints: ["luts <= {max_luts}"]
sampler: {{name: random}}
limits: {{max_address_bits: 12}}
{extra}
"""


def small_space(tmp_path: Path, name: str, max_luts: int = 100000, extra: str = "") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(SPACE.format(name=name, max_luts=max_luts, extra=extra))
    return path


