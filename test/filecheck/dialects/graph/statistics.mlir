// RUN: aidjit-opt %s --split-input-file | aidjit-opt --split-input-file | filecheck %s
// RUN: aidjit-opt %s --split-input-file --print-op-generic | aidjit-opt --split-input-file | filecheck %s

// The statistics ops (autodiff/ops/statistics.py) survive a print/parse round trip, custom and
// generic: reduce_min is a reduction; argmax/argmin take a reduction's axes and keepdims and
// give i64; cumsum's axis is an i64 attribute and its type is its operand's.

// CHECK-LABEL: func.func @statistics
// CHECK-SAME: (%[[X:.*]]: tensor<3x5xf32>)
func.func @statistics(%x: tensor<3x5xf32>) -> (tensor<3xf32>, tensor<1x5xi64>, tensor<i64>, tensor<3x5xf32>) {
  // CHECK: %[[MIN:.*]] = graph.reduce_min %[[X]] {axes = array<i64: 1>} : tensor<3x5xf32> -> tensor<3xf32>
  %0 = graph.reduce_min %x {axes = array<i64: 1>} : tensor<3x5xf32> -> tensor<3xf32>
  // CHECK: %[[MAX:.*]] = graph.argmax %[[X]] {axes = array<i64: 0>, keepdims} : tensor<3x5xf32> -> tensor<1x5xi64>
  %1 = graph.argmax %x {axes = array<i64: 0>, keepdims} : tensor<3x5xf32> -> tensor<1x5xi64>
  // CHECK: %[[ARGMIN:.*]] = graph.argmin %[[X]] {axes = array<i64: 0, 1>} : tensor<3x5xf32> -> tensor<i64>
  %2 = graph.argmin %x {axes = array<i64: 0, 1>} : tensor<3x5xf32> -> tensor<i64>
  // CHECK: %[[SUM:.*]] = graph.cumsum %[[X]] {axis = 1 : i64} : tensor<3x5xf32>
  %3 = graph.cumsum %x {axis = 1 : i64} : tensor<3x5xf32>
  // CHECK: func.return %[[MIN]], %[[MAX]], %[[ARGMIN]], %[[SUM]]
  func.return %0, %1, %2, %3 : tensor<3xf32>, tensor<1x5xi64>, tensor<i64>, tensor<3x5xf32>
}

// -----

// CHECK-LABEL: func.func @cumsum_f64
// CHECK: graph.cumsum %{{.*}} {axis = 0 : i64} : tensor<4x2x3xf64>
func.func @cumsum_f64(%x: tensor<4x2x3xf64>) -> tensor<4x2x3xf64> {
  %0 = graph.cumsum %x {axis = 0 : i64} : tensor<4x2x3xf64>
  func.return %0 : tensor<4x2x3xf64>
}
