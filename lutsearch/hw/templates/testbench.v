// lutsearch testbench (generated from lutsearch/hw/templates/testbench.v).
// Reads input vectors with $readmemh (one hex word of IN_W bits per line, input 0 in the least
// significant bits), applies one per clock cycle (or per time step when the DUT is combinational),
// and writes the outputs with $writememh in the same order.
// Plusargs: +inputs=<file> +outputs=<file> +n=<number of vectors, at most MAX_N>
`timescale 1ns/1ps
module @TB@;
  localparam IN_W  = @IN_W@;
  localparam OUT_W = @OUT_W@;
  localparam LAT   = @LAT@;    // clock cycles from input register to output register; 0 = combinational
  localparam MAX_N = @MAX_N@;
  reg  [IN_W-1:0]  vin  [0:MAX_N-1];
  reg  [OUT_W-1:0] vout [0:MAX_N-1];
  reg  [IN_W-1:0]  din;
  wire [OUT_W-1:0] dout;
  reg  clk;
  reg  [8*1024-1:0] fin, fout;
  integer n, i;

  @DUT@ dut (@CLK@.in(din), .@OUT_PORT@(dout));

  initial begin
    if (!$value$plusargs("inputs=%s", fin)) fin = "inputs.hex";
    if (!$value$plusargs("outputs=%s", fout)) fout = "outputs.hex";
    if (!$value$plusargs("n=%d", n)) n = MAX_N;
    $readmemh(fin, vin, 0, n - 1);
    clk = 1'b0;
    din = {IN_W{1'b0}};
    for (i = 0; i < n + LAT; i = i + 1) begin
      din = (i < n) ? vin[i] : {IN_W{1'b0}};
      if (LAT == 0) begin
        #1;
        vout[i] = dout;
      end else begin
        #1 clk = 1'b1;   // rising edge: vector i enters the input register
        #1 clk = 1'b0;
        if (i >= LAT) vout[i - LAT] = dout;   // after edge i the output register holds vector i-LAT
      end
    end
    $writememh(fout, vout, 0, n - 1);
    $finish;
  end
endmodule
