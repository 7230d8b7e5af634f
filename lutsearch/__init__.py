"""lutsearch: automatic search for LUT-based neural networks on FPGAs."""

__version__ = "0.1.0"
