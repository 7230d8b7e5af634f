# lutsearch: out-of-context Vivado implementation of an exported design (UltraScale+).
# Usage, from the rtl/ folder:  vivado -mode batch -source vivado_ooc.tcl [-tclargs <part>]
# Reports utilization (LUTs, FFs) and timing (WNS at the model's clock period) after place & route.
set part [expr {[llength $argv] > 0 ? [lindex $argv 0] : "xcvu9p-flgb2104-2-i"}]
read_verilog @FILES@
synth_design -top @TOP@ -part $part -mode out_of_context -flatten_hierarchy rebuilt
if {@CLOCKED@} {
  create_clock -name clk -period @PERIOD@ [get_ports clk]
}
opt_design
place_design
route_design
report_utilization -file utilization.rpt
report_timing_summary -file timing.rpt
puts "Fmax estimate: 1000 / (@PERIOD@ - WNS) MHz (see timing.rpt)"
