// RUN: aidjit-opt %s --split-input-file -p convert-graph-to-linalg | filecheck %s

// Gather and scatter at the structured level (lowering/indexing.py).

// A gather is a generic over the result; the indices are an input (broadcast by their map),
// the source is read in the body by `tensor.extract` at the resolved index: negative indices
// count from the end, then the index is clamped to the axis, so no read is out of bounds.
// CHECK-LABEL: func.func @gather
// CHECK-SAME: (%[[X:.*]]: tensor<3x5xf32>, %[[I:.*]]: tensor<1x7xi64>)
// CHECK: %[[E:.*]] = tensor.empty() : tensor<3x7xf32>
// CHECK-NEXT: %[[G:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%[[I]] : tensor<1x7xi64>) outs(%[[E]] : tensor<3x7xf32>) {
// CHECK-NEXT: ^{{.*}}(%[[K:.*]]: i64, %{{.*}}: f32):
// CHECK: %[[NEG:.*]] = arith.cmpi slt, %[[K]], %{{.*}} : i64
// CHECK: %[[UP:.*]] = arith.addi %[[K]], %{{.*}} : i64
// CHECK: %[[FROM_END:.*]] = arith.select %[[NEG]], %[[UP]], %[[K]] : i64
// CHECK: arith.cmpi slt, %[[FROM_END]]
// CHECK: arith.cmpi sgt
// CHECK: %[[J:.*]] = arith.index_cast %{{.*}} : i64 to index
// CHECK-NEXT: %[[D0:.*]] = linalg.index 0 : index
// CHECK-NEXT: %[[V:.*]] = tensor.extract %[[X]][%[[D0]], %[[J]]] : tensor<3x5xf32>
// CHECK-NEXT: linalg.yield %[[V]] : f32
// CHECK: func.return %[[G]]
func.func @gather(%x: tensor<3x5xf32>, %i: tensor<1x7xi64>) -> tensor<3x7xf32> {
  %0 = graph.gather %x, %i {axis = 1 : i64} : tensor<3x5xf32>, tensor<1x7xi64> -> tensor<3x7xf32>
  func.return %0 : tensor<3x7xf32>
}

// -----

// "clip" only clamps; "wrap" takes the remainder and counts a negative one from the end.
// CHECK-LABEL: func.func @modes
// CHECK: linalg.generic
// CHECK-NOT: arith.addi
// CHECK: arith.cmpi sgt
// CHECK: tensor.extract
// CHECK: linalg.generic
// CHECK: %[[R:.*]] = arith.remsi %{{.*}}, %{{.*}} : i64
// CHECK: arith.cmpi slt, %[[R]]
// CHECK-NOT: arith.cmpi sgt
// CHECK: tensor.extract
func.func @modes(%x: tensor<5xf32>, %i: tensor<2xi64>) -> (tensor<2xf32>, tensor<2xf32>) {
  %0 = graph.gather %x, %i {axis = 0 : i64, mode = "clip"} : tensor<5xf32>, tensor<2xi64> -> tensor<2xf32>
  %1 = graph.gather %x, %i {axis = 0 : i64, mode = "wrap"} : tensor<5xf32>, tensor<2xi64> -> tensor<2xf32>
  func.return %0, %1 : tensor<2xf32>, tensor<2xf32>
}

// -----

// A scatter-add is a sequential loop nest over the updates carrying the accumulator (zeros
// first): extract, add, insert at the resolved index. Size-1 dims get no loop.
// CHECK-LABEL: func.func @scatter_add
// CHECK-SAME: (%[[G:.*]]: tensor<2x3xf32>, %[[I:.*]]: tensor<1x3xi64>)
// CHECK: %[[Z:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<2x4xf32>) -> tensor<2x4xf32>
// CHECK: %[[OUT:.*]] = scf.for %[[A:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[ACC:.*]] = %[[Z]]) -> (tensor<2x4xf32>) {
// CHECK: %[[INNER:.*]] = scf.for %[[B:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[ACC2:.*]] = %[[ACC]]) -> (tensor<2x4xf32>) {
// CHECK: %[[K:.*]] = tensor.extract %[[I]][%{{.*}}, %[[B]]] : tensor<1x3xi64>
// CHECK: %[[J:.*]] = arith.index_cast %{{.*}} : i64 to index
// CHECK-NEXT: %[[U:.*]] = tensor.extract %[[G]][%[[A]], %[[B]]] : tensor<2x3xf32>
// CHECK-NEXT: %[[OLD:.*]] = tensor.extract %[[ACC2]][%[[A]], %[[J]]] : tensor<2x4xf32>
// CHECK-NEXT: %[[NEW:.*]] = arith.addf %[[OLD]], %[[U]] : f32
// CHECK-NEXT: %[[UPDATED:.*]] = tensor.insert %[[NEW]] into %[[ACC2]][%[[A]], %[[J]]] : tensor<2x4xf32>
// CHECK-NEXT: scf.yield %[[UPDATED]] : tensor<2x4xf32>
// CHECK: scf.yield %[[INNER]] : tensor<2x4xf32>
// CHECK: func.return %[[OUT]]
func.func @scatter_add(%g: tensor<2x3xf32>, %i: tensor<1x3xi64>) -> tensor<2x4xf32> {
  %0 = graph.scatter_add %g, %i {axis = 1 : i64} : tensor<2x3xf32>, tensor<1x3xi64> -> tensor<2x4xf32>
  func.return %0 : tensor<2x4xf32>
}
