"""Export one design of a study: pick it from the feasible Pareto front, write its RTL, testbench, test
vectors and truth tables, synthesize it with Yosys, verify it bit-exactly in RTL simulation on the
dataset's whole test split, and write ``report.json`` + ``report.md``.

Modules: ``_pick`` (open the study, pick policies), ``_build`` (the trial's artifacts -> RTL, tables,
vectors), ``_verify`` (synthesis report, RTL simulation against the Python model), ``_render``
(report.json / report.md), ``_dontcare`` (the ``dont_cares`` option: don't-care compression of the tables
first, accuracy and LUTs before/after), ``_export`` (``export_design``: the four in order).
Dependencies: this package uses the search's study loader, ``lutsearch.trial`` and ``lutsearch.hw``
(imported when an export runs, so ``ExportError`` is cheap to import); none of them imports it.

Layout of ``out_dir``::

    rtl/            layer*.v, <top>_stages.v, <top>.v (+ <top>_debug.v), tb.v, vivado_ooc.tcl
    tables/         layer*.mem ($readmemh truth tables, one line per neuron)
    vectors/        test_inputs.hex, test_expected.hex (one hex word per test sample), test_labels.txt
    synth/          Yosys script, log and reports
    dont_cares/     with ``dont_cares``: synth/ of the design before compression (its LUTs in the report)
    report.json, report.md
"""

from lutsearch.export._errors import ExportError
from lutsearch.export._export import export_design
from lutsearch.export._pick import PICKS, load_study, pick_trial

__all__ = ["PICKS", "ExportError", "export_design", "load_study", "pick_trial"]
