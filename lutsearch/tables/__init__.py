"""Truth-table networks: plain numpy LUT networks with an exact integer evaluator."""

from lutsearch.tables._network import AdderLayer, TableLayer, TruthTableNetwork, to_signed, to_unsigned

__all__ = ["AdderLayer", "TableLayer", "TruthTableNetwork", "to_signed", "to_unsigned"]
