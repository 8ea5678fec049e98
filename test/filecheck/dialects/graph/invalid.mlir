// RUN: aidjit-opt %s --split-input-file --verify-diagnostics

// Every verifier error of the graph dialect, by family: the message names the op and the types
// at fault, and is reported at the op's own line.

// -----

// Element types, shapes and constants.
func.func @unsupported_element(%x: tensor<4xf16>) -> tensor<4xf16> {
  // expected-error @+1 {{element type f16 is not supported: use f32, f64 or i64}}
  %0 = graph.tanh %x : tensor<4xf16>
  func.return %0 : tensor<4xf16>
}

// -----

func.func @dynamic(%x: tensor<?xf32>) -> tensor<?xf32> {
  %0 = graph.exp %x : tensor<?xf32>  // expected-error {{dynamic shapes are not supported: tensor<?xf32>}}
  func.return %0 : tensor<?xf32>
}

// -----

func.func @constant_type(%x: tensor<2xf32>) -> tensor<2xf32> {
  // expected-error @+1 {{attribute tensor<3xf32> expected from variable 'T', but got tensor<2xf32>}}
  %0 = "graph.constant"() <{value = dense<1.0> : tensor<2xf32>}> : () -> tensor<3xf32>
  func.return %x : tensor<2xf32>
}

// -----

func.func @constant_element() -> tensor<2xf16> {
  // expected-error @+1 {{element type f16 is not supported: use f32, f64 or i64}}
  %0 = graph.constant dense<1.0> : tensor<2xf16>
  func.return %0 : tensor<2xf16>
}

// -----

func.func @constant_dynamic() {
  // A dynamic constant does not even parse (the dense literal needs a static shape).
  // expected-error @+1 {{Dense literal attribute should have a static shape}}
  %0 = "graph.constant"() <{value = dense<1.0> : tensor<?xf32>}> : () -> tensor<?xf32>
  func.return
}

// -----

// Elementwise unary.
func.func @integer_exp(%x: tensor<4xi64>) -> tensor<4xi64> {
  // expected-error @+1 {{graph.exp: expected a float32 or float64 tensor, got tensor<4xi64>}}
  %0 = graph.exp %x : tensor<4xi64>
  func.return %0 : tensor<4xi64>
}

// -----

// Elementwise binary.
func.func @broadcast_mismatch(%x: tensor<4xf32>, %y: tensor<3xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{graph.add: operands tensor<4xf32> and tensor<3xf32> cannot be broadcast together}}
  %0 = graph.add %x, %y : tensor<4xf32>, tensor<3xf32> -> tensor<4xf32>
  func.return %0 : tensor<4xf32>
}

// -----

func.func @dtype_mismatch(%x: tensor<4xf32>, %y: tensor<4xf64>) -> tensor<4xf32> {
  // expected-error @+1 {{graph.multiply: operand dtypes differ: tensor<4xf32> and tensor<4xf64>}}
  %0 = graph.multiply %x, %y : tensor<4xf32>, tensor<4xf64> -> tensor<4xf32>
  func.return %0 : tensor<4xf32>
}

// -----

func.func @integer_add(%x: tensor<4xi64>) -> tensor<4xi64> {
  // expected-error @+1 {{graph.add: expected a float32 or float64 tensor, got tensor<4xi64>}}
  %0 = graph.add %x, %x : tensor<4xi64>, tensor<4xi64> -> tensor<4xi64>
  func.return %0 : tensor<4xi64>
}

// -----

func.func @wrong_result(%x: tensor<4x1xf32>, %y: tensor<3xf32>) -> tensor<4x1xf32> {
  // expected-error @+1 {{graph.add: result type tensor<4x1xf32> does not match tensor<4x3xf32>, inferred from operands tensor<4x1xf32>, tensor<3xf32>}}
  %0 = graph.add %x, %y : tensor<4x1xf32>, tensor<3xf32> -> tensor<4x1xf32>
  func.return %0 : tensor<4x1xf32>
}

// -----

// Reductions.
func.func @axis_out_of_range(%x: tensor<4x3xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{graph.sum: axis 2 is out of range for a tensor of rank 2}}
  %0 = graph.sum %x {axes = array<i64: 2>} : tensor<4x3xf32> -> tensor<4xf32>
  func.return %0 : tensor<4xf32>
}

// -----

func.func @repeated_axis(%x: tensor<4x3xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{graph.sum: repeated axis in (1, 1)}}
  %0 = graph.sum %x {axes = array<i64: 1, 1>} : tensor<4x3xf32> -> tensor<4xf32>
  func.return %0 : tensor<4xf32>
}

// -----

func.func @unsorted_axes(%x: tensor<4x3xf32>) -> tensor<f32> {
  // expected-error @+1 {{graph.sum: axes (1, 0) must be sorted, unique and non-negative}}
  %0 = graph.sum %x {axes = array<i64: 1, 0>} : tensor<4x3xf32> -> tensor<f32>
  func.return %0 : tensor<f32>
}

// -----

func.func @negative_axis(%x: tensor<4x3xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{graph.mean: axes (-1,) must be sorted, unique and non-negative}}
  %0 = graph.mean %x {axes = array<i64: -1>} : tensor<4x3xf32> -> tensor<4xf32>
  func.return %0 : tensor<4xf32>
}

// -----

func.func @integer_sum(%x: tensor<4xi64>) -> tensor<i64> {
  // expected-error @+1 {{graph.sum: expected a float32 or float64 tensor, got tensor<4xi64>}}
  %0 = graph.sum %x {axes = array<i64: 0>} : tensor<4xi64> -> tensor<i64>
  func.return %0 : tensor<i64>
}

// -----

func.func @reduce_wrong_shape(%x: tensor<4x3xf32>) -> tensor<3xf32> {
  // expected-error @+1 {{graph.mean: result type tensor<3xf32> does not match tensor<4xf32>}}
  %0 = graph.mean %x {axes = array<i64: 1>} : tensor<4x3xf32> -> tensor<3xf32>
  func.return %0 : tensor<3xf32>
}

// -----

func.func @max_of_empty(%x: tensor<4x0xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{graph.reduce_max: cannot reduce over an empty axis of tensor<4x0xf32>}}
  %0 = graph.reduce_max %x {axes = array<i64: 1>} : tensor<4x0xf32> -> tensor<4xf32>
  func.return %0 : tensor<4xf32>
}

// -----

// Matmul.
func.func @matmul_inner(%a: tensor<2x3xf32>, %b: tensor<4x5xf32>) -> tensor<2x5xf32> {
  // expected-error @+1 {{graph.matmul: contracting dimensions differ: tensor<2x3xf32> and tensor<4x5xf32>}}
  %0 = graph.matmul %a, %b : tensor<2x3xf32>, tensor<4x5xf32> -> tensor<2x5xf32>
  func.return %0 : tensor<2x5xf32>
}

// -----

func.func @matmul_rank(%a: tensor<3xf32>, %b: tensor<3x5xf32>) -> tensor<5xf32> {
  // expected-error @+1 {{graph.matmul: expected 2-D @ 2-D, 3-D @ 3-D or 3-D @ 2-D, got tensor<3xf32> and tensor<3x5xf32>}}
  %0 = graph.matmul %a, %b : tensor<3xf32>, tensor<3x5xf32> -> tensor<5xf32>
  func.return %0 : tensor<5xf32>
}

// -----

func.func @matmul_batch(%a: tensor<2x4x3xf32>, %b: tensor<5x3x6xf32>) -> tensor<2x4x6xf32> {
  // expected-error @+1 {{graph.matmul: batch dimensions differ: tensor<2x4x3xf32> and tensor<5x3x6xf32>}}
  %0 = graph.matmul %a, %b : tensor<2x4x3xf32>, tensor<5x3x6xf32> -> tensor<2x4x6xf32>
  func.return %0 : tensor<2x4x6xf32>
}

// -----

func.func @matmul_dtypes(%a: tensor<2x3xf32>, %b: tensor<3x5xf64>) -> tensor<2x5xf32> {
  // expected-error @+1 {{graph.matmul: operand dtypes differ: tensor<2x3xf32> and tensor<3x5xf64>}}
  %0 = graph.matmul %a, %b : tensor<2x3xf32>, tensor<3x5xf64> -> tensor<2x5xf32>
  func.return %0 : tensor<2x5xf32>
}

// -----

func.func @matmul_integer(%a: tensor<2x3xi64>, %b: tensor<3x5xi64>) -> tensor<2x5xi64> {
  // expected-error @+1 {{graph.matmul: expected a float32 or float64 tensor, got tensor<2x3xi64>}}
  %0 = graph.matmul %a, %b : tensor<2x3xi64>, tensor<3x5xi64> -> tensor<2x5xi64>
  func.return %0 : tensor<2x5xi64>
}

// -----

// Layout.
func.func @bad_perm(%x: tensor<4x3xf32>) -> tensor<3x4xf32> {
  // expected-error @+1 {{graph.transpose: (0, 0) is not a permutation of the axes of tensor<4x3xf32>}}
  %0 = graph.transpose %x {perm = array<i64: 0, 0>} : tensor<4x3xf32> -> tensor<3x4xf32>
  func.return %0 : tensor<3x4xf32>
}

// -----

func.func @bad_reshape(%x: tensor<4x3xf32>) -> tensor<5x2xf32> {
  // expected-error @+1 {{graph.reshape: cannot reshape tensor<4x3xf32> to shape (5, 2)}}
  %0 = graph.reshape %x : tensor<4x3xf32> -> tensor<5x2xf32>
  func.return %0 : tensor<5x2xf32>
}

// -----

func.func @bad_broadcast(%x: tensor<4x3xf32>) -> tensor<4x5xf32> {
  // expected-error @+1 {{graph.broadcast_to: cannot broadcast tensor<4x3xf32> to shape (4, 5)}}
  %0 = graph.broadcast_to %x : tensor<4x3xf32> -> tensor<4x5xf32>
  func.return %0 : tensor<4x5xf32>
}

// -----

func.func @slice_entries(%x: tensor<4x3xf32>) -> tensor<2x3xf32> {
  // expected-error @+1 {{graph.slice: start (0,) needs one entry per axis of tensor<4x3xf32>}}
  %0 = graph.slice %x {start = array<i64: 0>, strides = array<i64: 1, 1>} : tensor<4x3xf32> -> tensor<2x3xf32>
  func.return %0 : tensor<2x3xf32>
}

// -----

func.func @slice_zero_stride(%x: tensor<4x3xf32>) -> tensor<2x3xf32> {
  // expected-error @+1 {{graph.slice: axis 0 of tensor<4x3xf32>: stride 0, size 2}}
  %0 = graph.slice %x {start = array<i64: 0, 0>, strides = array<i64: 0, 1>} : tensor<4x3xf32> -> tensor<2x3xf32>
  func.return %0 : tensor<2x3xf32>
}

// -----

func.func @slice_out_of_bounds(%x: tensor<4x3xf32>) -> tensor<3x3xf32> {
  // expected-error @+1 {{graph.slice: axis 0 of tensor<4x3xf32>: 3 elements from 2 by 1 run out of bounds}}
  %0 = graph.slice %x {start = array<i64: 2, 0>, strides = array<i64: 1, 1>} : tensor<4x3xf32> -> tensor<3x3xf32>
  func.return %0 : tensor<3x3xf32>
}

// -----

// Pad, where, one_hot.
func.func @pad_entries(%x: tensor<4x3xf32>) -> tensor<5x3xf32> {
  // expected-error @+1 {{graph.pad: high (0,) needs one entry per axis of tensor<4x3xf32>}}
  %0 = graph.pad %x {low = array<i64: 1, 0>, high = array<i64: 0>, interior = array<i64: 0, 0>} : tensor<4x3xf32> -> tensor<5x3xf32>
  func.return %0 : tensor<5x3xf32>
}

// -----

func.func @pad_negative(%x: tensor<4x3xf32>) -> tensor<3x3xf32> {
  // expected-error @+1 {{graph.pad: padding of tensor<4x3xf32> must be non-negative, got low (-1, 0), high (0, 0), interior (0, 0)}}
  %0 = graph.pad %x {low = array<i64: -1, 0>, high = array<i64: 0, 0>, interior = array<i64: 0, 0>} : tensor<4x3xf32> -> tensor<3x3xf32>
  func.return %0 : tensor<3x3xf32>
}

// -----

func.func @where_dtypes(%c: tensor<4xi64>, %x: tensor<4xf32>, %y: tensor<4xf64>) -> tensor<4xf32> {
  // expected-error @+1 {{graph.where: x and y dtypes differ: tensor<4xf32> and tensor<4xf64>}}
  %0 = graph.where %c, %x, %y : tensor<4xi64>, tensor<4xf32>, tensor<4xf64> -> tensor<4xf32>
  func.return %0 : tensor<4xf32>
}

// -----

func.func @where_integer(%c: tensor<4xi64>, %x: tensor<4xi64>) -> tensor<4xi64> {
  // expected-error @+1 {{graph.where: expected a float32 or float64 tensor, got tensor<4xi64>}}
  %0 = graph.where %c, %x, %x : tensor<4xi64>, tensor<4xi64>, tensor<4xi64> -> tensor<4xi64>
  func.return %0 : tensor<4xi64>
}

// -----

func.func @where_broadcast(%c: tensor<3xi64>, %x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{graph.where: condition tensor<3xi64>, x tensor<4xf32> and y tensor<4xf32> cannot be broadcast together}}
  %0 = graph.where %c, %x, %x : tensor<3xi64>, tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>
  func.return %0 : tensor<4xf32>
}

// -----

func.func @float_labels(%y: tensor<4xf32>) -> tensor<4x3xf32> {
  // expected-error @+1 {{graph.one_hot: labels must be int64, got tensor<4xf32>}}
  %0 = graph.one_hot %y : tensor<4xf32> -> tensor<4x3xf32>
  func.return %0 : tensor<4x3xf32>
}

// -----

func.func @no_classes(%y: tensor<4xi64>) -> tensor<4x0xf32> {
  // expected-error @+1 {{graph.one_hot: num_classes must be positive, got 0}}
  %0 = graph.one_hot %y : tensor<4xi64> -> tensor<4x0xf32>
  func.return %0 : tensor<4x0xf32>
}

// -----

func.func @integer_one_hot(%y: tensor<4xi64>) -> tensor<4x3xi64> {
  // expected-error @+1 {{graph.one_hot: expected a float32 or float64 tensor, got tensor<i64>}}
  %0 = graph.one_hot %y : tensor<4xi64> -> tensor<4x3xi64>
  func.return %0 : tensor<4x3xi64>
}

// -----

func.func @astype_f16(%x: tensor<4xf32>) -> tensor<4xf16> {
  // expected-error @+1 {{element type f16 is not supported: use f32, f64 or i64}}
  %0 = graph.astype %x : tensor<4xf32> -> tensor<4xf16>
  func.return %0 : tensor<4xf16>
}

// -----

func.func @not_a_tensor(%x: f32) -> f32 {
  // expected-error @+1 {{operand 'input' at position 0 does not verify}}
  %0 = "graph.exp"(%x) : (f32) -> f32
  func.return %0 : f32
}

// -----

func.func @concat_shapes(%a: tensor<2x3xf32>, %b: tensor<3x3xf32>) -> tensor<2x6xf32> {
  // expected-error @+1 {{graph.concat: tensor<2x3xf32> and tensor<3x3xf32> differ off axis 1}}
  %0 = graph.concat %a, %b {axis = 1} : tensor<2x3xf32>, tensor<3x3xf32> -> tensor<2x6xf32>
  func.return %0 : tensor<2x6xf32>
}

// -----

func.func @concat_dtypes(%a: tensor<2xf32>, %b: tensor<2xf64>) -> tensor<4xf32> {
  // expected-error @+1 {{graph.concat: operand dtypes differ: tensor<2xf32> and tensor<2xf64>}}
  %0 = graph.concat %a, %b {axis = 0} : tensor<2xf32>, tensor<2xf64> -> tensor<4xf32>
  func.return %0 : tensor<4xf32>
}

// -----

func.func @concat_axis(%a: tensor<2xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{graph.concat: axis 1 is out of range for tensor<2xf32>}}
  %0 = graph.concat %a, %a {axis = 1} : tensor<2xf32>, tensor<2xf32> -> tensor<4xf32>
  func.return %0 : tensor<4xf32>
}

// -----

func.func @concat_result(%a: tensor<2xf32>) -> tensor<5xf32> {
  // expected-error @+1 {{graph.concat: result type tensor<5xf32> does not match tensor<4xf32>, inferred from operands tensor<2xf32>, tensor<2xf32>}}
  %0 = graph.concat %a, %a {axis = 0} : tensor<2xf32>, tensor<2xf32> -> tensor<5xf32>
  func.return %0 : tensor<5xf32>
}

// -----

func.func @pad_value_of_an_int_tensor(%x: tensor<3xi64>) -> tensor<4xi64> {
  // expected-error @+1 {{graph.pad: padding value 0.5 is not an integer, as tensor<3xi64> needs}}
  %0 = graph.pad %x {low = array<i64: 1>, high = array<i64: 0>, interior = array<i64: 0>, value = 0.5 : f64} : tensor<3xi64> -> tensor<4xi64>
  func.return %0 : tensor<4xi64>
}

// -----

// Reductions and statistics: an index result is i64; no empty reduction for min or argmax; a
// cumsum axis within the rank.
func.func @argmax_result_type(%x: tensor<3x5xf32>) -> tensor<3xf32> {
  // expected-error @+1 {{graph.argmax: result type tensor<3xf32> does not match tensor<3xi64>, inferred from operands tensor<3x5xf32>}}
  %0 = graph.argmax %x {axes = array<i64: 1>} : tensor<3x5xf32> -> tensor<3xf32>
  func.return %0 : tensor<3xf32>
}

// -----

func.func @argmin_of_indices(%x: tensor<3xi64>) -> tensor<i64> {
  // expected-error @+1 {{graph.argmin: expected a float32 or float64 tensor, got tensor<3xi64>}}
  %0 = graph.argmin %x {axes = array<i64: 0>} : tensor<3xi64> -> tensor<i64>
  func.return %0 : tensor<i64>
}

// -----

func.func @reduce_min_empty_axis(%x: tensor<3x0xf32>) -> tensor<3xf32> {
  // expected-error @+1 {{graph.reduce_min: cannot reduce over an empty axis of tensor<3x0xf32>}}
  %0 = graph.reduce_min %x {axes = array<i64: 1>} : tensor<3x0xf32> -> tensor<3xf32>
  func.return %0 : tensor<3xf32>
}

// -----

func.func @cumsum_axis(%x: tensor<3x5xf32>) -> tensor<3x5xf32> {
  // expected-error @+1 {{graph.cumsum: axis 2 is out of range for tensor<3x5xf32>}}
  %0 = graph.cumsum %x {axis = 2 : i64} : tensor<3x5xf32>
  func.return %0 : tensor<3x5xf32>
}

// -----

// Elementwise math and activations: a parameter outside its choices; a parameter missing; a
// float op on int64.
func.func @gelu_approximation(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{graph.gelu: approximate must be 'none' or 'tanh', got 'fast'}}
  %0 = graph.gelu %x {approximate = "fast"} : tensor<4xf32>
  func.return %0 : tensor<4xf32>
}

// -----

func.func @leaky_relu_without_slope(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{property 'negative_slope' expected in operation 'graph.leaky_relu'}}
  %0 = graph.leaky_relu %x : tensor<4xf32>
  func.return %0 : tensor<4xf32>
}

// -----

func.func @clip_of_int64(%x: tensor<4xi64>) -> tensor<4xi64> {
  // expected-error @+1 {{graph.clip: expected a float32 or float64 tensor, got tensor<4xi64>}}
  %0 = graph.clip %x {a_min = 0.0 : f64} : tensor<4xi64>
  func.return %0 : tensor<4xi64>
}

// -----

// Convolutions (autodiff/ops/conv.py).
func.func @conv2d_groups_do_not_divide(%x: tensor<1x6x5x5xf32>, %w: tensor<4x3x3x3xf32>) -> tensor<1x4x3x3xf32> {
  // expected-error @+1 {{graph.conv2d: groups = 4 must divide the input's 6 channels and the weight's 4 output channels (input tensor<1x6x5x5xf32>, weight tensor<4x3x3x3xf32>)}}
  %0 = graph.conv2d %x, %w groups 4 : tensor<1x6x5x5xf32>, tensor<4x3x3x3xf32> -> tensor<1x4x3x3xf32>
  func.return %0 : tensor<1x4x3x3xf32>
}

// -----

func.func @conv2d_weight_channels(%x: tensor<1x6x5x5xf32>, %w: tensor<4x2x3x3xf32>) -> tensor<1x4x3x3xf32> {
  // expected-error @+1 {{graph.conv2d: weight tensor<4x2x3x3xf32> expects 2 input channels (2 per group x 1 groups), input tensor<1x6x5x5xf32> has 6}}
  %0 = graph.conv2d %x, %w : tensor<1x6x5x5xf32>, tensor<4x2x3x3xf32> -> tensor<1x4x3x3xf32>
  func.return %0 : tensor<1x4x3x3xf32>
}

// -----

func.func @conv2d_kernel_too_large(%x: tensor<1x3x5x5xf32>, %w: tensor<2x3x3x3xf32>) -> tensor<1x2x1x1xf32> {
  // expected-error @+1 {{graph.conv2d: kernel height 3 (dilation 3: 7 elements) is larger than the padded input's 5 (input tensor<1x3x5x5xf32>, weight tensor<2x3x3x3xf32>)}}
  %0 = graph.conv2d %x, %w dilation [3, 1] : tensor<1x3x5x5xf32>, tensor<2x3x3x3xf32> -> tensor<1x2x1x1xf32>
  func.return %0 : tensor<1x2x1x1xf32>
}

// -----

func.func @conv2d_result_type(%x: tensor<1x3x5x5xf32>, %w: tensor<2x3x3x3xf32>) -> tensor<1x2x3x3xf32> {
  // expected-error @+1 {{graph.conv2d: result type tensor<1x2x3x3xf32> does not match tensor<1x2x2x2xf32>, inferred from operands tensor<1x3x5x5xf32>, tensor<2x3x3x3xf32>}}
  %0 = graph.conv2d %x, %w stride [2, 2] : tensor<1x3x5x5xf32>, tensor<2x3x3x3xf32> -> tensor<1x2x3x3xf32>
  func.return %0 : tensor<1x2x3x3xf32>
}

// -----

func.func @conv2d_stride_zero(%x: tensor<1x3x5x5xf32>, %w: tensor<2x3x3x3xf32>) -> tensor<1x2x3x3xf32> {
  // expected-error @+1 {{graph.conv2d: stride (0, 1) and dilation (1, 1) must be two positive integers each}}
  %0 = graph.conv2d %x, %w stride [0, 1] : tensor<1x3x5x5xf32>, tensor<2x3x3x3xf32> -> tensor<1x2x3x3xf32>
  func.return %0 : tensor<1x2x3x3xf32>
}

// -----

// Gather and scatter (autodiff/ops/indexing.py).
func.func @gather_float_indices(%x: tensor<3x5xf32>, %i: tensor<3x2xf32>) -> tensor<3x2xf32> {
  // expected-error @+1 {{graph.gather: indices must be int64, got tensor<3x2xf32>}}
  %0 = graph.gather %x, %i {axis = 1 : i64} : tensor<3x5xf32>, tensor<3x2xf32> -> tensor<3x2xf32>
  func.return %0 : tensor<3x2xf32>
}

// -----

func.func @gather_not_broadcastable(%x: tensor<3x5xf32>, %i: tensor<2x4xi64>) -> tensor<3x4xf32> {
  // expected-error @+1 {{graph.gather: tensor<3x5xf32> and indices tensor<2x4xi64> cannot be broadcast together (except along axis 1)}}
  %0 = graph.gather %x, %i {axis = 1 : i64} : tensor<3x5xf32>, tensor<2x4xi64> -> tensor<3x4xf32>
  func.return %0 : tensor<3x4xf32>
}

// -----

func.func @scatter_shape(%g: tensor<3x7xf32>, %i: tensor<1x7xi64>) -> tensor<2x5xf32> {
  // expected-error @+1 {{graph.scatter_add: updates tensor<3x7xf32>, indices tensor<1x7xi64> and result tensor<2x5xf32> do not match in dim 0 (axis 1)}}
  %0 = graph.scatter_add %g, %i {axis = 1 : i64} : tensor<3x7xf32>, tensor<1x7xi64> -> tensor<2x5xf32>
  func.return %0 : tensor<2x5xf32>
}

// -----

func.func @gather_mode(%x: tensor<5xf32>, %i: tensor<2xi64>) -> tensor<2xf32> {
  // expected-error @+1 {{graph.gather: mode must be one of raise, wrap, clip, got 'nearest'}}
  %0 = graph.gather %x, %i {axis = 0 : i64, mode = "nearest"} : tensor<5xf32>, tensor<2xi64> -> tensor<2xf32>
  func.return %0 : tensor<2xf32>
}

// -----

// Pooling: the window (kernel, dilation) must fit in the NCHW input.
func.func @max_pool2d_window(%x: tensor<1x2x3x3xf32>) -> tensor<1x2x1x1xf32> {
  // expected-error @+1 {{graph.max_pool2d: a window of (2, 2) with dilation (3, 1) does not fit in tensor<1x2x3x3xf32>}}
  %0 = graph.max_pool2d %x {kernel = array<i64: 2, 2>, stride = array<i64: 1, 1>, dilation = array<i64: 3, 1>} : tensor<1x2x3x3xf32> -> tensor<1x2x1x1xf32>
  func.return %0 : tensor<1x2x1x1xf32>
}

// -----

func.func @sum_pool2d_rank(%x: tensor<2x3x3xf32>) -> tensor<2x3x3xf32> {
  // expected-error @+1 {{graph.sum_pool2d: expected an NCHW tensor of rank 4, got tensor<2x3x3xf32>}}
  %0 = graph.sum_pool2d %x {kernel = array<i64: 1, 1>, stride = array<i64: 1, 1>, dilation = array<i64: 1, 1>} : tensor<2x3x3xf32> -> tensor<2x3x3xf32>
  func.return %0 : tensor<2x3x3xf32>
}

// -----

// Normalisation: one statistic per channel (axis 1).
func.func @batch_norm_channels(%x: tensor<2x4x3x3xf32>, %s: tensor<3xf32>) -> tensor<2x4x3x3xf32> {
  // expected-error @+1 {{graph.batch_norm_inference: weight tensor<3xf32> must have shape (4,), one per channel}}
  %0 = graph.batch_norm_inference %x, %s, %s, %s, %s {eps = 1.0e-5 : f64} : tensor<2x4x3x3xf32>, tensor<3xf32>
  func.return %0 : tensor<2x4x3x3xf32>
}

// -----

// Random numbers (autodiff/ops/random.py): the key is two int64 words.
func.func @random_bits_float_key(%key: tensor<2xf32>) -> tensor<3xi64> {
  // expected-error @+1 {{graph.random_bits: key must be int64, got tensor<2xf32>}}
  %0 = graph.random_bits %key : tensor<2xf32> -> tensor<3xi64>
  func.return %0 : tensor<3xi64>
}

// -----

func.func @random_bits_key_shape(%key: tensor<3xi64>) -> tensor<3xi64> {
  // expected-error @+1 {{graph.random_bits: key must have shape (2,), got tensor<3xi64>}}
  %0 = graph.random_bits %key : tensor<3xi64> -> tensor<3xi64>
  func.return %0 : tensor<3xi64>
}

// -----

func.func @random_bits_float_result(%key: tensor<2xi64>) -> tensor<3xf32> {
  // expected-error @+1 {{graph.random_bits: result type tensor<3xf32> does not match tensor<3xi64>, inferred from operands tensor<2xi64>}}
  %0 = graph.random_bits %key : tensor<2xi64> -> tensor<3xf32>
  func.return %0 : tensor<3xf32>
}
