// RUN: aidjit-opt %s --split-input-file | aidjit-opt --split-input-file | filecheck %s
// RUN: aidjit-opt %s --split-input-file --print-op-generic | aidjit-opt --split-input-file | filecheck %s

// The pooling and normalisation ops (autodiff/ops/pooling.py, normalization.py) survive a
// print/parse round trip, custom and generic: a pool's kernel, stride and dilation are
// properties; batch_norm_inference spells its input's type and its statistics' shared type.

// CHECK-LABEL: func.func @pools
// CHECK-SAME: (%[[X:.*]]: tensor<1x4x9x9xf32>)
func.func @pools(%x: tensor<1x4x9x9xf32>) -> (tensor<1x4x4x4xf32>, tensor<1x4x8x3xf32>) {
  // CHECK: %[[M:.*]] = graph.max_pool2d %[[X]] {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>, dilation = array<i64: 1, 1>} : tensor<1x4x9x9xf32> -> tensor<1x4x4x4xf32>
  %0 = graph.max_pool2d %x {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>, dilation = array<i64: 1, 1>} : tensor<1x4x9x9xf32> -> tensor<1x4x4x4xf32>
  // CHECK: %[[S:.*]] = graph.sum_pool2d %[[X]] {kernel = array<i64: 2, 2>, stride = array<i64: 1, 3>, dilation = array<i64: 1, 2>} : tensor<1x4x9x9xf32> -> tensor<1x4x8x3xf32>
  %1 = graph.sum_pool2d %x {kernel = array<i64: 2, 2>, stride = array<i64: 1, 3>, dilation = array<i64: 1, 2>} : tensor<1x4x9x9xf32> -> tensor<1x4x8x3xf32>
  // CHECK: func.return %[[M]], %[[S]]
  func.return %0, %1 : tensor<1x4x4x4xf32>, tensor<1x4x8x3xf32>
}

// -----

// CHECK-LABEL: func.func @batch_norm_inference
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x5x5xf64>, %[[W:.*]]: tensor<3xf64>, %[[B:.*]]: tensor<3xf64>, %[[M:.*]]: tensor<3xf64>, %[[V:.*]]: tensor<3xf64>)
// CHECK: graph.batch_norm_inference %[[X]], %[[W]], %[[B]], %[[M]], %[[V]] {eps = 1.000000e-03 : f64} : tensor<2x3x5x5xf64>, tensor<3xf64>
func.func @batch_norm_inference(%x: tensor<2x3x5x5xf64>, %w: tensor<3xf64>, %b: tensor<3xf64>, %m: tensor<3xf64>, %v: tensor<3xf64>) -> tensor<2x3x5x5xf64> {
  %0 = graph.batch_norm_inference %x, %w, %b, %m, %v {eps = 1.0e-3 : f64} : tensor<2x3x5x5xf64>, tensor<3xf64>
  func.return %0 : tensor<2x3x5x5xf64>
}
