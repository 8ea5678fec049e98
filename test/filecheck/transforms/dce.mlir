// RUN: aidjit-opt %s -p dce | filecheck %s

// Graph ops are Pure: dce erases those whose results nobody uses, and nothing else.
// CHECK-LABEL: func.func @dead_ops
// CHECK-SAME: (%[[X:.*]]: tensor<4xf32>)
func.func @dead_ops(%x: tensor<4xf32>) -> tensor<4xf32> {
  %c = graph.constant dense<2.0> : tensor<f32>
  %dead = graph.multiply %x, %c : tensor<4xf32>, tensor<f32> -> tensor<4xf32>
  %dead2 = graph.exp %dead : tensor<4xf32>
  // CHECK-NEXT: %[[T:.*]] = graph.tanh %[[X]] : tensor<4xf32>
  %0 = graph.tanh %x : tensor<4xf32>
  // CHECK-NEXT: func.return %[[T]] : tensor<4xf32>
  func.return %0 : tensor<4xf32>
}
