// RUN: aidjit-opt %s --split-input-file | aidjit-opt --split-input-file | filecheck %s
// RUN: aidjit-opt %s --split-input-file --print-op-generic | aidjit-opt --split-input-file | filecheck %s

// Every graph op in its custom syntax survives a print/parse round trip, custom and generic.

// CHECK-LABEL: func.func @elementwise
func.func @elementwise(%x: tensor<4x3xf32>, %b: tensor<3xf32>) -> tensor<4x3xf32> {
  // CHECK: %[[C:.*]] = graph.constant dense<1.000000e+00> : tensor<f32>
  %c = graph.constant dense<1.0> : tensor<f32>
  // CHECK: %[[A:.*]] = graph.add %x, %b : tensor<4x3xf32>, tensor<3xf32> -> tensor<4x3xf32>
  %0 = graph.add %x, %b : tensor<4x3xf32>, tensor<3xf32> -> tensor<4x3xf32>
  // CHECK: graph.subtract %[[A]], %[[C]] : tensor<4x3xf32>, tensor<f32> -> tensor<4x3xf32>
  %1 = graph.subtract %0, %c : tensor<4x3xf32>, tensor<f32> -> tensor<4x3xf32>
  // CHECK: graph.multiply
  %2 = graph.multiply %1, %1 : tensor<4x3xf32>, tensor<4x3xf32> -> tensor<4x3xf32>
  // CHECK: graph.divide
  %3 = graph.divide %2, %x : tensor<4x3xf32>, tensor<4x3xf32> -> tensor<4x3xf32>
  // CHECK: graph.power
  %4 = graph.power %3, %c : tensor<4x3xf32>, tensor<f32> -> tensor<4x3xf32>
  // CHECK: graph.maximum
  %5 = graph.maximum %4, %x : tensor<4x3xf32>, tensor<4x3xf32> -> tensor<4x3xf32>
  // CHECK: graph.minimum
  %6 = graph.minimum %5, %b : tensor<4x3xf32>, tensor<3xf32> -> tensor<4x3xf32>
  // CHECK: graph.greater %{{.*}}, %{{.*}} : tensor<4x3xf32>, tensor<4x3xf32> -> tensor<4x3xf32>
  %7 = graph.greater %6, %x : tensor<4x3xf32>, tensor<4x3xf32> -> tensor<4x3xf32>
  // CHECK: graph.greater_equal
  %8 = graph.greater_equal %7, %x : tensor<4x3xf32>, tensor<4x3xf32> -> tensor<4x3xf32>
  // CHECK: graph.negate %{{.*}} : tensor<4x3xf32>
  %9 = graph.negate %8 : tensor<4x3xf32>
  // CHECK: graph.abs
  %10 = graph.abs %9 : tensor<4x3xf32>
  // CHECK: graph.sign
  %11 = graph.sign %10 : tensor<4x3xf32>
  // CHECK: graph.exp
  %12 = graph.exp %11 : tensor<4x3xf32>
  // CHECK: graph.log
  %13 = graph.log %12 : tensor<4x3xf32>
  // CHECK: graph.sqrt
  %14 = graph.sqrt %13 : tensor<4x3xf32>
  // CHECK: graph.relu
  %15 = graph.relu %14 : tensor<4x3xf32>
  // CHECK: graph.sigmoid
  %16 = graph.sigmoid %15 : tensor<4x3xf32>
  // CHECK: graph.tanh
  %17 = graph.tanh %16 : tensor<4x3xf32>
  func.return %17 : tensor<4x3xf32>
}

// -----

// CHECK-LABEL: func.func @reductions
func.func @reductions(%x: tensor<4x3xf64>) -> (tensor<4xf64>, tensor<1x3xf64>, tensor<f64>) {
  // CHECK: graph.sum %x {axes = array<i64: 1>} : tensor<4x3xf64> -> tensor<4xf64>
  %0 = graph.sum %x {axes = array<i64: 1>} : tensor<4x3xf64> -> tensor<4xf64>
  // CHECK: graph.mean %x {axes = array<i64: 0>, keepdims} : tensor<4x3xf64> -> tensor<1x3xf64>
  %1 = graph.mean %x {axes = array<i64: 0>, keepdims} : tensor<4x3xf64> -> tensor<1x3xf64>
  // CHECK: graph.reduce_max %x {axes = array<i64: 0, 1>} : tensor<4x3xf64> -> tensor<f64>
  %2 = graph.reduce_max %x {axes = array<i64: 0, 1>} : tensor<4x3xf64> -> tensor<f64>
  func.return %0, %1, %2 : tensor<4xf64>, tensor<1x3xf64>, tensor<f64>
}

// -----

// CHECK-LABEL: func.func @matmul_and_layout
func.func @matmul_and_layout(%a: tensor<2x3x4xf32>, %w: tensor<4x5xf32>, %y: tensor<6xi64>) -> (tensor<2x3x5xf32>, tensor<5x3x2xf32>, tensor<6x5xf32>, tensor<6x10xf32>) {
  // CHECK: graph.matmul %a, %w : tensor<2x3x4xf32>, tensor<4x5xf32> -> tensor<2x3x5xf32>
  %0 = graph.matmul %a, %w : tensor<2x3x4xf32>, tensor<4x5xf32> -> tensor<2x3x5xf32>
  // CHECK: graph.transpose %{{.*}} {perm = array<i64: 2, 1, 0>} : tensor<2x3x5xf32> -> tensor<5x3x2xf32>
  %1 = graph.transpose %0 {perm = array<i64: 2, 1, 0>} : tensor<2x3x5xf32> -> tensor<5x3x2xf32>
  // CHECK: graph.reshape %{{.*}} : tensor<2x3x5xf32> -> tensor<6x5xf32>
  %2 = graph.reshape %0 : tensor<2x3x5xf32> -> tensor<6x5xf32>
  // CHECK: graph.broadcast_to %w : tensor<4x5xf32> -> tensor<2x4x5xf32>
  %3 = graph.broadcast_to %w : tensor<4x5xf32> -> tensor<2x4x5xf32>
  // CHECK: graph.one_hot %y : tensor<6xi64> -> tensor<6x10xf32>
  %4 = graph.one_hot %y : tensor<6xi64> -> tensor<6x10xf32>
  func.return %0, %1, %2, %4 : tensor<2x3x5xf32>, tensor<5x3x2xf32>, tensor<6x5xf32>, tensor<6x10xf32>
}

// -----

// CHECK-LABEL: func.func @masks_where_astype
func.func @masks_where_astype(%x: tensor<4x3xf32>, %b: tensor<3xf32>, %c: tensor<4x1xi64>) -> (tensor<4x3xf32>, tensor<4x3xf32>, tensor<4x3xi64>) {
  // CHECK: %[[EQ:.*]] = graph.equal %x, %b : tensor<4x3xf32>, tensor<3xf32> -> tensor<4x3xf32>
  %0 = graph.equal %x, %b : tensor<4x3xf32>, tensor<3xf32> -> tensor<4x3xf32>
  // CHECK: %[[NE:.*]] = graph.not_equal %x, %[[EQ]] : tensor<4x3xf32>, tensor<4x3xf32> -> tensor<4x3xf32>
  %1 = graph.not_equal %x, %0 : tensor<4x3xf32>, tensor<4x3xf32> -> tensor<4x3xf32>
  // CHECK: graph.where %[[NE]], %x, %b : tensor<4x3xf32>, tensor<4x3xf32>, tensor<3xf32> -> tensor<4x3xf32>
  %2 = graph.where %1, %x, %b : tensor<4x3xf32>, tensor<4x3xf32>, tensor<3xf32> -> tensor<4x3xf32>
  // CHECK: graph.where %c, %x, %b : tensor<4x1xi64>, tensor<4x3xf32>, tensor<3xf32> -> tensor<4x3xf32>
  %3 = graph.where %c, %x, %b : tensor<4x1xi64>, tensor<4x3xf32>, tensor<3xf32> -> tensor<4x3xf32>
  // CHECK: graph.astype %x : tensor<4x3xf32> -> tensor<4x3xi64>
  %4 = graph.astype %x : tensor<4x3xf32> -> tensor<4x3xi64>
  func.return %2, %3, %4 : tensor<4x3xf32>, tensor<4x3xf32>, tensor<4x3xi64>
}

// -----

// CHECK-LABEL: func.func @slice_and_pad
func.func @slice_and_pad(%x: tensor<4x6xf64>) -> (tensor<2x3xf64>, tensor<5x8xf64>) {
  // CHECK: %[[S:.*]] = graph.slice %x {start = array<i64: 3, 1>, strides = array<i64: -2, 2>} : tensor<4x6xf64> -> tensor<2x3xf64>
  %0 = graph.slice %x {start = array<i64: 3, 1>, strides = array<i64: -2, 2>} : tensor<4x6xf64> -> tensor<2x3xf64>
  // CHECK: graph.pad %[[S]] {low = array<i64: 1, 0>, high = array<i64: 2, 1>, interior = array<i64: 0, 2>} : tensor<2x3xf64> -> tensor<5x8xf64>
  %1 = graph.pad %0 {low = array<i64: 1, 0>, high = array<i64: 2, 1>, interior = array<i64: 0, 2>} : tensor<2x3xf64> -> tensor<5x8xf64>
  func.return %0, %1 : tensor<2x3xf64>, tensor<5x8xf64>
}

// -----

// concat takes any number of operands; pad's padding value is an f64 property, absent for +0.0.
// CHECK-LABEL: func.func @concat_and_pad_value
func.func @concat_and_pad_value(%a: tensor<2x3xf32>, %b: tensor<2x1xf32>) -> (tensor<2x7xf32>, tensor<4x5xf32>, tensor<2x3xf32>) {
  // CHECK: graph.concat %a, %b, %a {axis = 1 : i64} : tensor<2x3xf32>, tensor<2x1xf32>, tensor<2x3xf32> -> tensor<2x7xf32>
  %0 = graph.concat %a, %b, %a {axis = 1} : tensor<2x3xf32>, tensor<2x1xf32>, tensor<2x3xf32> -> tensor<2x7xf32>
  // CHECK: graph.pad %a {low = array<i64: 1, 0>, high = array<i64: 1, 2>, interior = array<i64: 0, 0>, value = 0xfff0000000000000 : f64} : tensor<2x3xf32> -> tensor<4x5xf32>
  %1 = graph.pad %a {low = array<i64: 1, 0>, high = array<i64: 1, 2>, interior = array<i64: 0, 0>, value = 0xFFF0000000000000 : f64} : tensor<2x3xf32> -> tensor<4x5xf32>
  // CHECK: graph.concat %a {axis = 0 : i64} : tensor<2x3xf32> -> tensor<2x3xf32>
  %2 = graph.concat %a {axis = 0} : tensor<2x3xf32> -> tensor<2x3xf32>
  func.return %0, %1, %2 : tensor<2x7xf32>, tensor<4x5xf32>, tensor<2x3xf32>
}

// -----

// random_bits: the shape is the result type's; `stream` is printed only when not 0.
// CHECK-LABEL: func.func @random_bits
func.func @random_bits(%key: tensor<2xi64>) -> (tensor<3x5xi64>, tensor<4x2xi64>) {
  // CHECK: graph.random_bits %key : tensor<2xi64> -> tensor<3x5xi64>
  %0 = graph.random_bits %key : tensor<2xi64> -> tensor<3x5xi64>
  // CHECK: graph.random_bits %key {stream = 1 : i64} : tensor<2xi64> -> tensor<4x2xi64>
  %1 = graph.random_bits %key {stream = 1 : i64} : tensor<2xi64> -> tensor<4x2xi64>
  func.return %0, %1 : tensor<3x5xi64>, tensor<4x2xi64>
}
