// RUN: aidjit-opt %s --split-input-file --verify-diagnostics | filecheck %s

// Every verifier error names the op and both of the types at fault.

func.func @broadcast_mismatch(%x: tensor<4xf32>, %y: tensor<3xf32>) -> tensor<4xf32> {
  %0 = graph.add %x, %y : tensor<4xf32>, tensor<3xf32> -> tensor<4xf32>
  func.return %0 : tensor<4xf32>
}
// CHECK: graph.add: operands tensor<4xf32> and tensor<3xf32> cannot be broadcast together

// -----

func.func @dtype_mismatch(%x: tensor<4xf32>, %y: tensor<4xf64>) -> tensor<4xf32> {
  %0 = graph.multiply %x, %y : tensor<4xf32>, tensor<4xf64> -> tensor<4xf32>
  func.return %0 : tensor<4xf32>
}
// CHECK: graph.multiply: operand dtypes differ: tensor<4xf32> and tensor<4xf64>

// -----

func.func @wrong_result(%x: tensor<4x1xf32>, %y: tensor<3xf32>) -> tensor<4x1xf32> {
  %0 = graph.add %x, %y : tensor<4x1xf32>, tensor<3xf32> -> tensor<4x1xf32>
  func.return %0 : tensor<4x1xf32>
}
// CHECK: graph.add: result type tensor<4x1xf32> does not match tensor<4x3xf32>, inferred from operands tensor<4x1xf32>, tensor<3xf32>

// -----

func.func @integer_exp(%x: tensor<4xi64>) -> tensor<4xi64> {
  %0 = graph.exp %x : tensor<4xi64>
  func.return %0 : tensor<4xi64>
}
// CHECK: graph.exp: expected a float32 or float64 tensor, got tensor<4xi64>

// -----

func.func @unsupported_element(%x: tensor<4xf16>) -> tensor<4xf16> {
  %0 = graph.tanh %x : tensor<4xf16>
  func.return %0 : tensor<4xf16>
}
// CHECK: element type f16 is not supported: use f32, f64 or i64

// -----

func.func @matmul_inner(%a: tensor<2x3xf32>, %b: tensor<4x5xf32>) -> tensor<2x5xf32> {
  %0 = graph.matmul %a, %b : tensor<2x3xf32>, tensor<4x5xf32> -> tensor<2x5xf32>
  func.return %0 : tensor<2x5xf32>
}
// CHECK: graph.matmul: contracting dimensions differ: tensor<2x3xf32> and tensor<4x5xf32>

// -----

func.func @matmul_rank(%a: tensor<3xf32>, %b: tensor<3x5xf32>) -> tensor<5xf32> {
  %0 = graph.matmul %a, %b : tensor<3xf32>, tensor<3x5xf32> -> tensor<5xf32>
  func.return %0 : tensor<5xf32>
}
// CHECK: graph.matmul: expected 2-D @ 2-D, 3-D @ 3-D or 3-D @ 2-D, got tensor<3xf32> and tensor<3x5xf32>

// -----

func.func @axis_out_of_range(%x: tensor<4x3xf32>) -> tensor<4xf32> {
  %0 = graph.sum %x {axes = array<i64: 2>} : tensor<4x3xf32> -> tensor<4xf32>
  func.return %0 : tensor<4xf32>
}
// CHECK: graph.sum: axis 2 is out of range for a tensor of rank 2

// -----

func.func @reduce_wrong_shape(%x: tensor<4x3xf32>) -> tensor<3xf32> {
  %0 = graph.mean %x {axes = array<i64: 1>} : tensor<4x3xf32> -> tensor<3xf32>
  func.return %0 : tensor<3xf32>
}
// CHECK: graph.mean: result type tensor<3xf32> does not match tensor<4xf32>

// -----

func.func @max_of_empty(%x: tensor<4x0xf32>) -> tensor<4xf32> {
  %0 = graph.reduce_max %x {axes = array<i64: 1>} : tensor<4x0xf32> -> tensor<4xf32>
  func.return %0 : tensor<4xf32>
}
// CHECK: graph.reduce_max: cannot reduce over an empty axis of tensor<4x0xf32>

// -----

func.func @bad_perm(%x: tensor<4x3xf32>) -> tensor<3x4xf32> {
  %0 = graph.transpose %x {perm = array<i64: 0, 0>} : tensor<4x3xf32> -> tensor<3x4xf32>
  func.return %0 : tensor<3x4xf32>
}
// CHECK: graph.transpose: (0, 0) is not a permutation of the axes of tensor<4x3xf32>

// -----

func.func @bad_reshape(%x: tensor<4x3xf32>) -> tensor<5x2xf32> {
  %0 = graph.reshape %x : tensor<4x3xf32> -> tensor<5x2xf32>
  func.return %0 : tensor<5x2xf32>
}
// CHECK: graph.reshape: cannot reshape tensor<4x3xf32> to shape (5, 2)

// -----

func.func @bad_broadcast(%x: tensor<4x3xf32>) -> tensor<4x5xf32> {
  %0 = graph.broadcast_to %x : tensor<4x3xf32> -> tensor<4x5xf32>
  func.return %0 : tensor<4x5xf32>
}
// CHECK: graph.broadcast_to: cannot broadcast tensor<4x3xf32> to shape (4, 5)

// -----

func.func @float_labels(%y: tensor<4xf32>) -> tensor<4x3xf32> {
  %0 = graph.one_hot %y : tensor<4xf32> -> tensor<4x3xf32>
  func.return %0 : tensor<4x3xf32>
}
// CHECK: graph.one_hot: labels must be int64, got tensor<4xf32>

// -----

func.func @constant_type(%x: tensor<2xf32>) -> tensor<2xf32> {
  %0 = "graph.constant"() <{value = dense<1.0> : tensor<2xf32>}> : () -> tensor<3xf32>
  func.return %x : tensor<2xf32>
}
// CHECK: Operation does not verify

// -----

func.func @dynamic(%x: tensor<?xf32>) -> tensor<?xf32> {
  %0 = graph.exp %x : tensor<?xf32>
  func.return %0 : tensor<?xf32>
}
// CHECK: dynamic shapes are not supported: tensor<?xf32>
