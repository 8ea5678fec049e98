// RUN: aidjit-opt %s --split-input-file | aidjit-opt --split-input-file | filecheck %s
// RUN: aidjit-opt %s --split-input-file --print-op-generic | aidjit-opt --split-input-file | filecheck %s

// graph.conv2d (autodiff/ops/conv.py) survives a print/parse round trip, custom and generic:
// stride, dilation and groups are printed as keywords, each left out at its default of 1.

// CHECK-LABEL: func.func @conv2d
// CHECK-SAME: (%[[X:.*]]: tensor<1x8x9x9xf32>, %[[W:.*]]: tensor<8x2x3x3xf32>, %[[V:.*]]: tensor<4x8x1x1xf32>)
func.func @conv2d(%x: tensor<1x8x9x9xf32>, %w: tensor<8x2x3x3xf32>, %v: tensor<4x8x1x1xf32>) -> (tensor<1x8x4x3xf32>, tensor<1x4x9x9xf32>) {
  // CHECK: %[[Y:.*]] = graph.conv2d %[[X]], %[[W]] stride [2, 2] dilation [1, 2] groups 4 : tensor<1x8x9x9xf32>, tensor<8x2x3x3xf32> -> tensor<1x8x4x3xf32>
  %0 = graph.conv2d %x, %w stride [2, 2] dilation [1, 2] groups 4 : tensor<1x8x9x9xf32>, tensor<8x2x3x3xf32> -> tensor<1x8x4x3xf32>
  // CHECK: %[[Z:.*]] = graph.conv2d %[[X]], %[[V]] : tensor<1x8x9x9xf32>, tensor<4x8x1x1xf32> -> tensor<1x4x9x9xf32>
  %1 = graph.conv2d %x, %v : tensor<1x8x9x9xf32>, tensor<4x8x1x1xf32> -> tensor<1x4x9x9xf32>
  // CHECK: func.return %[[Y]], %[[Z]]
  func.return %0, %1 : tensor<1x8x4x3xf32>, tensor<1x4x9x9xf32>
}

// -----

// The generic form spells every property; the custom form leaves out those equal to 1.
// CHECK-LABEL: func.func @conv2d_generic_form
// CHECK: graph.conv2d %{{.*}}, %{{.*}} dilation [2, 1] : tensor<2x3x7x5xf64>, tensor<6x3x2x2xf64> -> tensor<2x6x5x4xf64>
func.func @conv2d_generic_form(%x: tensor<2x3x7x5xf64>, %w: tensor<6x3x2x2xf64>) -> tensor<2x6x5x4xf64> {
  %0 = "graph.conv2d"(%x, %w) <{stride = array<i64: 1, 1>, dilation = array<i64: 2, 1>, groups = 1 : i64}> : (tensor<2x3x7x5xf64>, tensor<6x3x2x2xf64>) -> tensor<2x6x5x4xf64>
  func.return %0 : tensor<2x6x5x4xf64>
}
