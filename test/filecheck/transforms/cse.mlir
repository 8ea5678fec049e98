// RUN: aidjit-opt %s -p cse | filecheck %s

// xDSL's cse merges graph ops that are Pure and equal in operands and properties.
// CHECK-LABEL: func.func @duplicates
// CHECK-SAME: (%[[X:.*]]: tensor<4x3xf32>)
func.func @duplicates(%x: tensor<4x3xf32>) -> (tensor<4x3xf32>, tensor<4xf32>, tensor<3xf32>) {
  // CHECK-NEXT: %[[E:.*]] = graph.exp %[[X]]
  %0 = graph.exp %x : tensor<4x3xf32>
  %1 = graph.exp %x : tensor<4x3xf32>
  // CHECK-NEXT: %[[M:.*]] = graph.multiply %[[E]], %[[E]]
  %2 = graph.multiply %0, %1 : tensor<4x3xf32>, tensor<4x3xf32> -> tensor<4x3xf32>
  // Different axes are different ops: both sums stay.
  // CHECK-NEXT: %[[S1:.*]] = graph.sum %[[M]] {axes = array<i64: 1>}
  %3 = graph.sum %2 {axes = array<i64: 1>} : tensor<4x3xf32> -> tensor<4xf32>
  // CHECK-NEXT: %[[S0:.*]] = graph.sum %[[M]] {axes = array<i64: 0>}
  %4 = graph.sum %2 {axes = array<i64: 0>} : tensor<4x3xf32> -> tensor<3xf32>
  %5 = graph.sum %2 {axes = array<i64: 1>} : tensor<4x3xf32> -> tensor<4xf32>
  %6 = graph.add %3, %5 : tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>
  // CHECK-NEXT: %[[A:.*]] = graph.add %[[S1]], %[[S1]]
  // CHECK-NEXT: func.return %[[M]], %[[A]], %[[S0]]
  func.return %2, %6, %4 : tensor<4x3xf32>, tensor<4xf32>, tensor<3xf32>
}
