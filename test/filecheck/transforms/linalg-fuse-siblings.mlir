// RUN: aidjit-opt %s --split-input-file -p convert-graph-to-linalg,linalg-fuse-siblings | filecheck %s

// Inputs are graph-level and lowered first (one generic per graph op); the CHECK lines show
// which generics linalg-fuse-siblings merged into one multi-result generic.

// W6's mean and max of each row: two reductions over the same loops reading x the same way
// become one generic with two outputs (one read of x). Mean's division, which used the first
// reduction and sat between the two, is moved after the merged op.
// CHECK-LABEL: func.func @mean_and_max
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf32>)
// CHECK: %[[ZERO:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<4xf32>)
// CHECK: %[[NEGINF:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<4xf32>)
// CHECK-NEXT: %[[SUM:.*]], %[[MAX:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%[[X]] : tensor<4x8xf32>) outs(%[[ZERO]], %[[NEGINF]] : tensor<4xf32>, tensor<4xf32>) {
// CHECK-NEXT: ^{{.*}}(%[[V:.*]]: f32, %[[ACC0:.*]]: f32, %[[ACC1:.*]]: f32):
// CHECK-NEXT: %[[S:.*]] = arith.addf %[[ACC0]], %[[V]] : f32
// CHECK-NEXT: %[[M:.*]] = arith.maximumf %[[ACC1]], %[[V]] : f32
// CHECK-NEXT: linalg.yield %[[S]], %[[M]] : f32, f32
// CHECK-NEXT: } -> (tensor<4xf32>, tensor<4xf32>)
// CHECK-NEXT: %[[MEAN:.*]] = linalg.generic {{.*}} ins(%[[SUM]] : tensor<4xf32>)
// CHECK: arith.divf
// CHECK: func.return %[[MEAN]], %[[MAX]] : tensor<4xf32>, tensor<4xf32>
func.func @mean_and_max(%x: tensor<4x8xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %0 = graph.mean %x {axes = array<i64: 1>} : tensor<4x8xf32> -> tensor<4xf32>
  %1 = graph.reduce_max %x {axes = array<i64: 1>} : tensor<4x8xf32> -> tensor<4xf32>
  func.return %0, %1 : tensor<4xf32>, tensor<4xf32>
}

// -----

// Negative: the second generic reads the first's result (and x): they are not siblings.
// CHECK-LABEL: func.func @dependent
// CHECK-SAME: (%[[X:.*]]: tensor<8xf32>, %[[Y:.*]]: tensor<8xf32>)
// CHECK: %[[ADD:.*]] = linalg.generic {{.*}} ins(%[[X]], %[[Y]] : tensor<8xf32>, tensor<8xf32>) outs(%{{.*}} : tensor<8xf32>)
// CHECK: %[[MUL:.*]] = linalg.generic {{.*}} ins(%[[ADD]], %[[X]] : tensor<8xf32>, tensor<8xf32>) outs(%{{.*}} : tensor<8xf32>)
// CHECK: func.return %[[MUL]] : tensor<8xf32>
func.func @dependent(%x: tensor<8xf32>, %y: tensor<8xf32>) -> tensor<8xf32> {
  %0 = graph.add %x, %y : tensor<8xf32>, tensor<8xf32> -> tensor<8xf32>
  %1 = graph.multiply %0, %x : tensor<8xf32>, tensor<8xf32> -> tensor<8xf32>
  func.return %1 : tensor<8xf32>
}

// -----

// Negative: sums of the rows and of the columns of x read it the same way, but their
// iterators differ, so they stay two loop nests.
// CHECK-LABEL: func.func @different_iterators
// CHECK-SAME: (%[[X:.*]]: tensor<4x4xf32>)
// CHECK: %[[ROWS:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]} ins(%[[X]] : tensor<4x4xf32>) outs(%{{.*}} : tensor<4xf32>)
// CHECK: %[[COLS:.*]] = linalg.generic {{.*}} iterator_types = ["reduction", "parallel"]} ins(%[[X]] : tensor<4x4xf32>) outs(%{{.*}} : tensor<4xf32>)
// CHECK: func.return %[[ROWS]], %[[COLS]]
func.func @different_iterators(%x: tensor<4x4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %0 = graph.sum %x {axes = array<i64: 1>} : tensor<4x4xf32> -> tensor<4xf32>
  %1 = graph.sum %x {axes = array<i64: 0>} : tensor<4x4xf32> -> tensor<4xf32>
  func.return %0, %1 : tensor<4xf32>, tensor<4xf32>
}

// -----

// Negative: the same iterators and the same read of x, (d0, 0), but loops of 4x3 and 4x5.
// CHECK-LABEL: func.func @different_ranges
// CHECK-SAME: (%[[X:.*]]: tensor<4x1xf32>, %[[Y:.*]]: tensor<4x3xf32>, %[[Z:.*]]: tensor<4x5xf32>)
// CHECK: %[[A:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, 0)>, {{.*}} ins(%[[X]], %[[Y]] : tensor<4x1xf32>, tensor<4x3xf32>) outs(%{{.*}} : tensor<4x3xf32>)
// CHECK: %[[B:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, 0)>, {{.*}} ins(%[[X]], %[[Z]] : tensor<4x1xf32>, tensor<4x5xf32>) outs(%{{.*}} : tensor<4x5xf32>)
// CHECK: func.return %[[A]], %[[B]]
func.func @different_ranges(%x: tensor<4x1xf32>, %y: tensor<4x3xf32>, %z: tensor<4x5xf32>) -> (tensor<4x3xf32>, tensor<4x5xf32>) {
  %0 = graph.add %x, %y : tensor<4x1xf32>, tensor<4x3xf32> -> tensor<4x3xf32>
  %1 = graph.add %x, %z : tensor<4x1xf32>, tensor<4x5xf32> -> tensor<4x5xf32>
  func.return %0, %1 : tensor<4x3xf32>, tensor<4x5xf32>
}

// -----

// Negative: the same loops, but nothing read in common.
// CHECK-LABEL: func.func @no_common_input
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf32>, %[[Y:.*]]: tensor<4x8xf32>)
// CHECK: %[[SX:.*]] = linalg.generic {{.*}} ins(%[[X]] : tensor<4x8xf32>) outs(%{{.*}} : tensor<4xf32>)
// CHECK: %[[SY:.*]] = linalg.generic {{.*}} ins(%[[Y]] : tensor<4x8xf32>) outs(%{{.*}} : tensor<4xf32>)
// CHECK: func.return %[[SX]], %[[SY]]
func.func @no_common_input(%x: tensor<4x8xf32>, %y: tensor<4x8xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %0 = graph.sum %x {axes = array<i64: 1>} : tensor<4x8xf32> -> tensor<4xf32>
  %1 = graph.sum %y {axes = array<i64: 1>} : tensor<4x8xf32> -> tensor<4xf32>
  func.return %0, %1 : tensor<4xf32>, tensor<4xf32>
}
