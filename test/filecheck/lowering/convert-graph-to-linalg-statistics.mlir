// RUN: aidjit-opt %s --split-input-file -p convert-graph-to-linalg | filecheck %s

// The statistics ops at the structured level (lowering/statistics.py).

// reduce_min: a reduction row like reduce_max's, from +inf with the NaN-propagating minimumf.
// CHECK-LABEL: func.func @reduce_min
// CHECK: %[[INF:.*]] = arith.constant 0x7f800000 : f32
// CHECK: %[[INIT:.*]] = linalg.fill ins(%[[INF]] : f32) outs(%{{.*}} : tensor<3xf32>) -> tensor<3xf32>
// CHECK: linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%{{.*}} : tensor<3x5xf32>) outs(%[[INIT]] : tensor<3xf32>)
// CHECK-NEXT: ^{{.*}}(%[[V:.*]]: f32, %[[ACC:.*]]: f32):
// CHECK-NEXT: %[[MIN:.*]] = arith.minimumf %[[ACC]], %[[V]] : f32
// CHECK-NEXT: linalg.yield %[[MIN]] : f32
func.func @reduce_min(%x: tensor<3x5xf32>) -> tensor<3xf32> {
  %0 = graph.reduce_min %x {axes = array<i64: 1>} : tensor<3x5xf32> -> tensor<3xf32>
  func.return %0 : tensor<3xf32>
}

// -----

// argmax: reduce_max's generic, then a second reduction over the same loops keeping the
// smallest row-major position (over the reduced dims d0, d2) that equals the max or is NaN,
// from the block size (6, never a position); keepdims expands the result.
// CHECK-LABEL: func.func @argmax
// CHECK-SAME: (%[[X:.*]]: tensor<2x4x3xf64>)
// CHECK: %[[MAX:.*]] = linalg.generic {{.*}} iterator_types = ["reduction", "parallel", "reduction"]} ins(%[[X]] : tensor<2x4x3xf64>)
// CHECK: arith.maximumf
// CHECK: %[[SIZE:.*]] = arith.constant 6 : i64
// CHECK: %[[FIRST:.*]] = linalg.fill ins(%[[SIZE]] : i64) outs(%{{.*}} : tensor<4xi64>) -> tensor<4xi64>
// CHECK: %[[INDEX:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (d1)>, affine_map<(d0, d1, d2) -> (d1)>], iterator_types = ["reduction", "parallel", "reduction"]} ins(%[[X]], %[[MAX]] : tensor<2x4x3xf64>, tensor<4xf64>) outs(%[[FIRST]] : tensor<4xi64>)
// CHECK-NEXT: ^{{.*}}(%[[V:.*]]: f64, %[[M:.*]]: f64, %[[ACC:.*]]: i64):
// CHECK-NEXT: %[[EQ:.*]] = arith.cmpf oeq, %[[V]], %[[M]] : f64
// CHECK-NEXT: %[[NAN:.*]] = arith.cmpf uno, %[[V]], %[[V]] : f64
// CHECK-NEXT: %[[HIT:.*]] = arith.ori %[[EQ]], %[[NAN]] : i1
// CHECK-NEXT: %[[I0:.*]] = linalg.index 0 : index
// CHECK-NEXT: %[[THREE:.*]] = arith.constant 3 : index
// CHECK-NEXT: %[[ROW:.*]] = arith.muli %[[I0]], %[[THREE]] : index
// CHECK-NEXT: %[[I2:.*]] = linalg.index 2 : index
// CHECK-NEXT: %[[POS:.*]] = arith.addi %[[ROW]], %[[I2]] : index
// CHECK-NEXT: %[[K:.*]] = arith.index_cast %[[POS]] : index to i64
// CHECK-NEXT: %[[EARLIER:.*]] = arith.cmpi slt, %[[K]], %[[ACC]] : i64
// CHECK-NEXT: %[[TAKE:.*]] = arith.andi %[[HIT]], %[[EARLIER]] : i1
// CHECK-NEXT: %[[NEXT:.*]] = arith.select %[[TAKE]], %[[K]], %[[ACC]] : i64
// CHECK-NEXT: linalg.yield %[[NEXT]] : i64
// CHECK: %[[KEPT:.*]] = tensor.expand_shape %[[INDEX]] {{.*}} output_shape [1, 4, 1] : tensor<4xi64> into tensor<1x4x1xi64>
// CHECK: func.return %[[KEPT]] : tensor<1x4x1xi64>
func.func @argmax(%x: tensor<2x4x3xf64>) -> tensor<1x4x1xi64> {
  %0 = graph.argmax %x {axes = array<i64: 0, 2>, keepdims} : tensor<2x4x3xf64> -> tensor<1x4x1xi64>
  func.return %0 : tensor<1x4x1xi64>
}

// -----

// argmin locates reduce_min's value.
// CHECK-LABEL: func.func @argmin
// CHECK: arith.constant 0x7f800000 : f32
// CHECK: arith.minimumf
// CHECK: arith.cmpf oeq
// CHECK: arith.cmpi slt
func.func @argmin(%x: tensor<5xf32>) -> tensor<i64> {
  %0 = graph.argmin %x {axes = array<i64: 0>} : tensor<5xf32> -> tensor<i64>
  func.return %0 : tensor<i64>
}

// -----

// cumsum along axis 0: a masked triangular reduction. A loop d2 over the summed terms is
// innermost; x is read at the term (d2, d1); terms past the output's own index d0 add -0.0
// (a select: a later inf never multiplies a 0), so the sum runs in numpy's order.
// CHECK-LABEL: func.func @cumsum
// CHECK-SAME: (%[[X:.*]]: tensor<4x3xf32>)
// CHECK: %[[NZ:.*]] = arith.constant -0.000000e+00 : f32
// CHECK: %[[INIT:.*]] = linalg.fill ins(%[[NZ]] : f32) outs(%{{.*}} : tensor<4x3xf32>) -> tensor<4x3xf32>
// CHECK: %[[SUM:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d2, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[X]] : tensor<4x3xf32>) outs(%[[INIT]] : tensor<4x3xf32>)
// CHECK-NEXT: ^{{.*}}(%[[V:.*]]: f32, %[[ACC:.*]]: f32):
// CHECK-NEXT: %[[TERM:.*]] = linalg.index 2 : index
// CHECK-NEXT: %[[OUT:.*]] = linalg.index 0 : index
// CHECK-NEXT: %[[IN:.*]] = arith.cmpi sle, %[[TERM]], %[[OUT]] : index
// CHECK-NEXT: %[[ZERO:.*]] = arith.constant -0.000000e+00 : f32
// CHECK-NEXT: %[[ADDEND:.*]] = arith.select %[[IN]], %[[V]], %[[ZERO]] : f32
// CHECK-NEXT: %[[NEXT:.*]] = arith.addf %[[ACC]], %[[ADDEND]] : f32
// CHECK-NEXT: linalg.yield %[[NEXT]] : f32
// CHECK: func.return %[[SUM]] : tensor<4x3xf32>
func.func @cumsum(%x: tensor<4x3xf32>) -> tensor<4x3xf32> {
  %0 = graph.cumsum %x {axis = 0 : i64} : tensor<4x3xf32>
  func.return %0 : tensor<4x3xf32>
}
