"""``LUTModel``: what every family's top-level model offers the trial, the training loop, ensembles
and the truth-table export, declared once (no ``hasattr`` probing).

Abstract: the exact path (``input_codes``, ``predict_codes``), enumeration (``to_tables``), the number
of outputs and the form of the output codes (``output_code_bits``, ``output_code_signed``,
``output_quant_slot``). Training hooks have no-op defaults: ``regularization()`` (added to the loss),
``on_epoch_start(epoch, n_epochs)`` (before each epoch), ``prelude(ctx)`` (once before training),
``checkpoint_ok()`` (whether the current weights may be kept as the best checkpoint).
``grouping_history`` is what a prelude reports (NLA's dense grouping phase); ``{}`` when none ran.
"""

from __future__ import annotations

import abc
from typing import Any

import numpy as np
import torch
from torch import nn

from lutsearch.tables import TruthTableNetwork

__all__ = ["LUTModel"]


class LUTModel(nn.Module, abc.ABC):
    """The protocol of a family's top-level model (see the module docstring)."""

    family: str = "generic"
    config: dict[str, Any]
    grouping_history: dict[str, Any]

    def __init__(self) -> None:
        super().__init__()
        self.grouping_history = {}

    # ------------------------------------------------------------------ exact path and tables
    @abc.abstractmethod
    def input_codes(self, x: np.ndarray | torch.Tensor) -> np.ndarray:
        """Unsigned input codes (N, n_inputs) exactly as the hardware receives them."""

    @abc.abstractmethod
    def predict_codes(self, codes: np.ndarray, batch_size: int = 8192) -> np.ndarray:
        """Output codes (N, n_outputs) of the quantized model fed input ``codes`` (unsigned bit patterns)."""

    @abc.abstractmethod
    def to_tables(self, meta: dict[str, Any] | None = None) -> TruthTableNetwork:
        """The truth-table network that reproduces ``predict_codes`` (the contract with hardware)."""

    @property
    @abc.abstractmethod
    def n_outputs(self) -> int:
        """Number of output codes (classes)."""

    @abc.abstractmethod
    def output_code_bits(self) -> int:
        """Width of each output code of ``predict_codes``."""

    @abc.abstractmethod
    def output_code_signed(self) -> bool:
        """Whether the output codes are two's complement bit patterns."""

    @abc.abstractmethod
    def output_quant_slot(self) -> tuple[nn.Module, str] | None:
        """Where the logits' scale lives, ``(owner, attribute)`` of the output quantizer (ensembles share
        it across members), or None when the output codes need no quantizer (e.g. popcounts)."""

    # ------------------------------------------------------------------ training hooks
    def regularization(self) -> torch.Tensor | float:
        """Added to the training loss each step. Default: 0."""
        return 0.0

    def on_epoch_start(self, epoch: int, n_epochs: int) -> None:
        """Runs before each training epoch. Default: nothing."""

    def prelude(self, ctx: Any) -> None:
        """Runs once before training with a ``lutsearch.train.TrainContext``. Default: nothing."""

    def checkpoint_ok(self) -> bool:
        """Whether the current weights may be kept as the best-validation checkpoint. Default: True."""
        return True
