// RUN: aidjit-opt %s --split-input-file -p convert-graph-to-linalg,linalg-fuse-siblings,linalg-split-reduction | filecheck %s
// RUN: aidjit-opt %s --split-input-file -p 'convert-graph-to-linalg,linalg-fuse-siblings,linalg-split-reduction{lanes=4}' | filecheck %s --check-prefix=LANES4

// Graph-level inputs are lowered first (and siblings merged, for the multi-output case); the
// CHECK lines show how linalg-split-reduction rewrote each reduction generic. By default K is
// one 64-byte vector: 16 lanes of f32, 8 of f64.

// A row sum over 64 f32: x is viewed as 4x4x16 (r = q * 16 + lane), the partial generic
// reduces over q with the lane loop innermost and parallel into a 4x16 zero fill, and a final
// generic combines the 16 partials of each row, in order, into the original init.
// CHECK-LABEL: func.func @row_sum
// CHECK-SAME: (%[[X:.*]]: tensor<4x64xf32>)
// CHECK: %[[INIT:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<4xf32>)
// CHECK-NEXT: %[[SPLIT:.*]] = tensor.expand_shape %[[X]] {{\[\[}}0 : i64], [1 : i64, 2 : i64{{\]\]}} output_shape [4, 4, 16] : tensor<4x64xf32> into tensor<4x4x16xf32>
// CHECK-NEXT: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: %[[E:.*]] = tensor.empty() : tensor<4x16xf32>
// CHECK-NEXT: %[[LANES:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%[[E]] : tensor<4x16xf32>) -> tensor<4x16xf32>
// CHECK-NEXT: %[[PARTIAL:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d2)>], iterator_types = ["parallel", "reduction", "parallel"]} ins(%[[SPLIT]] : tensor<4x4x16xf32>) outs(%[[LANES]] : tensor<4x16xf32>) {
// CHECK-NEXT: ^{{.*}}(%[[V:.*]]: f32, %[[ACC:.*]]: f32):
// CHECK-NEXT: %[[S:.*]] = arith.addf %[[ACC]], %[[V]] : f32
// CHECK-NEXT: linalg.yield %[[S]] : f32
// CHECK-NEXT: } -> tensor<4x16xf32>
// CHECK-NEXT: %[[SUM:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%[[PARTIAL]] : tensor<4x16xf32>) outs(%[[INIT]] : tensor<4xf32>) {
// CHECK-NEXT: ^{{.*}}(%[[P:.*]]: f32, %[[TOTAL:.*]]: f32):
// CHECK-NEXT: %[[T:.*]] = arith.addf %[[TOTAL]], %[[P]] : f32
// CHECK-NEXT: linalg.yield %[[T]] : f32
// CHECK-NEXT: } -> tensor<4xf32>
// CHECK-NEXT: func.return %[[SUM]] : tensor<4xf32>

// With lanes=4: 16 steps of 4 lanes.
// LANES4-LABEL: func.func @row_sum
// LANES4: tensor.expand_shape %{{.*}} output_shape [4, 16, 4] : tensor<4x64xf32> into tensor<4x16x4xf32>
// LANES4: linalg.generic {{.*}} iterator_types = ["parallel", "reduction", "parallel"]} ins(%{{.*}} : tensor<4x16x4xf32>) outs(%{{.*}} : tensor<4x4xf32>)
// LANES4: linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]} ins(%{{.*}} : tensor<4x4xf32>) outs(%{{.*}} : tensor<4xf32>)
func.func @row_sum(%x: tensor<4x64xf32>) -> tensor<4xf32> {
  %0 = graph.sum %x {axes = array<i64: 1>} : tensor<4x64xf32> -> tensor<4xf32>
  func.return %0 : tensor<4xf32>
}

// -----

// A multi-output reduction (sum and max of each f64 row, merged by linalg-fuse-siblings):
// one partial generic with two 4x8 partials, each starting at its combiner's identity (0 and
// -inf), then one final combine per output.
// CHECK-LABEL: func.func @sum_and_max
// CHECK-SAME: (%[[X:.*]]: tensor<4x32xf64>)
// CHECK: %[[SUM_INIT:.*]] = linalg.fill ins(%{{.*}} : f64) outs(%{{.*}} : tensor<4xf64>)
// CHECK: %[[MAX_INIT:.*]] = linalg.fill ins(%{{.*}} : f64) outs(%{{.*}} : tensor<4xf64>)
// CHECK-NEXT: %[[SPLIT:.*]] = tensor.expand_shape %[[X]] {{.*}} output_shape [4, 4, 8] : tensor<4x32xf64> into tensor<4x4x8xf64>
// CHECK-NEXT: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f64
// CHECK-NEXT: tensor.empty() : tensor<4x8xf64>
// CHECK-NEXT: %[[SUM_LANES:.*]] = linalg.fill ins(%[[ZERO]] : f64)
// CHECK-NEXT: %[[NEGINF:.*]] = arith.constant 0xfff0000000000000 : f64
// CHECK-NEXT: tensor.empty() : tensor<4x8xf64>
// CHECK-NEXT: %[[MAX_LANES:.*]] = linalg.fill ins(%[[NEGINF]] : f64)
// CHECK-NEXT: %[[PS:.*]], %[[PM:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d0, d2)>], iterator_types = ["parallel", "reduction", "parallel"]} ins(%[[SPLIT]] : tensor<4x4x8xf64>) outs(%[[SUM_LANES]], %[[MAX_LANES]] : tensor<4x8xf64>, tensor<4x8xf64>) {
// CHECK: arith.addf
// CHECK-NEXT: arith.maximumf
// CHECK: %[[SUM:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]} ins(%[[PS]] : tensor<4x8xf64>) outs(%[[SUM_INIT]] : tensor<4xf64>)
// CHECK-NEXT: ^
// CHECK-NEXT: arith.addf
// CHECK: %[[MAX:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]} ins(%[[PM]] : tensor<4x8xf64>) outs(%[[MAX_INIT]] : tensor<4xf64>)
// CHECK-NEXT: ^
// CHECK-NEXT: arith.maximumf
// CHECK: func.return %[[SUM]], %[[MAX]]
func.func @sum_and_max(%x: tensor<4x32xf64>) -> (tensor<4xf64>, tensor<4xf64>) {
  %0 = graph.sum %x {axes = array<i64: 1>} : tensor<4x32xf64> -> tensor<4xf64>
  %1 = graph.reduce_max %x {axes = array<i64: 1>} : tensor<4x32xf64> -> tensor<4xf64>
  func.return %0, %1 : tensor<4xf64>, tensor<4xf64>
}

// -----

// Several reduction dims (batch norm's per-channel sum over N, H and W): only the innermost,
// W = 32, is split; N, H and the step q stay reductions outside the lane loop, so each of the
// 3x16 partials accumulates over all of them and is combined once per channel at the end. The
// partial's loops put the parallel channel first (d0 reads x's dim 1), so one channel's lanes
// stay in a register through n, h and q and the outer loop can run on threads.
// CHECK-LABEL: func.func @channel_sum
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x4x32xf32>)
// CHECK: %[[SPLIT:.*]] = tensor.expand_shape %[[X]] {{.*}} output_shape [2, 3, 4, 2, 16] : tensor<2x3x4x32xf32> into tensor<2x3x4x2x16xf32>
// CHECK: %[[LANES:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<3x16xf32>) -> tensor<3x16xf32>
// CHECK-NEXT: %[[PARTIAL:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4) -> (d1, d0, d2, d3, d4)>, affine_map<(d0, d1, d2, d3, d4) -> (d0, d4)>], iterator_types = ["parallel", "reduction", "reduction", "reduction", "parallel"]} ins(%[[SPLIT]] : tensor<2x3x4x2x16xf32>) outs(%[[LANES]] : tensor<3x16xf32>)
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]} ins(%[[PARTIAL]] : tensor<3x16xf32>) outs(%{{.*}} : tensor<3xf32>)
func.func @channel_sum(%x: tensor<2x3x4x32xf32>) -> tensor<3xf32> {
  %0 = graph.sum %x {axes = array<i64: 0, 2, 3>} : tensor<2x3x4x32xf32> -> tensor<3xf32>
  func.return %0 : tensor<3xf32>
}

// -----

// Rows of exactly one vector (global average pooling's 16-wide rows) still split when another
// reduction dim gives each lane more than one element: the step dim has extent 1 and the
// lanes accumulate over the 4 rows H.
// CHECK-LABEL: func.func @pooled_rows
// CHECK: tensor.expand_shape %{{.*}} output_shape [2, 3, 4, 1, 16] : tensor<2x3x4x16xf32> into tensor<2x3x4x1x16xf32>
// CHECK: linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3, d4)>, affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d4)>], iterator_types = ["parallel", "parallel", "reduction", "reduction", "parallel"]} ins(%{{.*}} : tensor<2x3x4x1x16xf32>) outs(%{{.*}} : tensor<2x3x16xf32>)
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%{{.*}} : tensor<2x3x16xf32>) outs(%{{.*}} : tensor<2x3xf32>)
func.func @pooled_rows(%x: tensor<2x3x4x16xf32>) -> tensor<2x3xf32> {
  %0 = graph.sum %x {axes = array<i64: 2, 3>} : tensor<2x3x4x16xf32> -> tensor<2x3xf32>
  func.return %0 : tensor<2x3xf32>
}

// -----

// Negative: 24 is no multiple of 16 lanes, and 16 would be a single step: both are left
// alone (one reduction generic each). With lanes=4 the first splits into 6 steps of 4.
// CHECK-LABEL: func.func @short_rows
// CHECK-NOT: tensor.expand_shape
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]} ins(%{{.*}} : tensor<4x24xf32>) outs(%{{.*}} : tensor<4xf32>)
// CHECK-NOT: tensor.expand_shape
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]} ins(%{{.*}} : tensor<4x16xf32>) outs(%{{.*}} : tensor<4xf32>)
// CHECK-NOT: linalg.generic
// CHECK: func.return
// LANES4-LABEL: func.func @short_rows
// LANES4: tensor.expand_shape %{{.*}} output_shape [4, 6, 4] : tensor<4x24xf32> into tensor<4x6x4xf32>
func.func @short_rows(%x: tensor<4x24xf32>, %y: tensor<4x16xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %0 = graph.sum %x {axes = array<i64: 1>} : tensor<4x24xf32> -> tensor<4xf32>
  %1 = graph.sum %y {axes = array<i64: 1>} : tensor<4x16xf32> -> tensor<4xf32>
  func.return %0, %1 : tensor<4xf32>, tensor<4xf32>
}

// -----

// Negative: the reduction is not the innermost loop: matmul's k (loops i, k, j) and a sum
// over the columns (loops r, j) stay as they are.
// CHECK-LABEL: func.func @not_innermost
// CHECK-NOT: tensor.expand_shape
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "reduction", "parallel"]} ins(%{{.*}}, %{{.*}} : tensor<4x64xf32>, tensor<64x32xf32>) outs(%{{.*}} : tensor<4x32xf32>)
// CHECK-NOT: tensor.expand_shape
// CHECK: linalg.generic {{.*}} iterator_types = ["reduction", "parallel"]} ins(%{{.*}} : tensor<64x32xf32>) outs(%{{.*}} : tensor<32xf32>)
// CHECK-NOT: linalg.generic
// CHECK: func.return
func.func @not_innermost(%a: tensor<4x64xf32>, %b: tensor<64x32xf32>) -> (tensor<4x32xf32>, tensor<32xf32>) {
  %0 = graph.matmul %a, %b : tensor<4x64xf32>, tensor<64x32xf32> -> tensor<4x32xf32>
  %1 = graph.sum %b {axes = array<i64: 0>} : tensor<64x32xf32> -> tensor<32xf32>
  func.return %0, %1 : tensor<4x32xf32>, tensor<32xf32>
}

// -----

// Negative: `acc - x` is no associative combiner, so reassociating it would change the result.
// (Written at the linalg level: no graph op reduces with it.)
// CHECK-LABEL: func.func @not_associative
// CHECK-NOT: tensor.expand_shape
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]} ins(%{{.*}} : tensor<4x64xf32>) outs(%{{.*}} : tensor<4xf32>)
// CHECK-NEXT: ^{{.*}}(%[[V:.*]]: f32, %[[ACC:.*]]: f32):
// CHECK-NEXT: arith.subf %[[ACC]], %[[V]] : f32
// CHECK-NOT: linalg.generic
// CHECK: func.return
func.func @not_associative(%x: tensor<4x64xf32>) -> tensor<4xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<4xf32>) -> tensor<4xf32>
  %0 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%x : tensor<4x64xf32>) outs(%init : tensor<4xf32>) {
  ^bb0(%v: f32, %acc: f32):
    %d = arith.subf %acc, %v : f32
    linalg.yield %d : f32
  } -> tensor<4xf32>
  func.return %0 : tensor<4xf32>
}
