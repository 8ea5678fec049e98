// RUN: aidjit-opt %s --split-input-file -p convert-graph-to-linalg | filecheck %s

// Pools become a window reduction (lowering/pooling.py): loops (n, c, oh, ow, kh, kw),
// the input read at `oh * stride + kh * dilation`, an unread `tensor.empty` window sizing kh
// and kw, into a fill of the combine's identity. Inference batch_norm
// (lowering/normalization.py) is a per-channel generic making scale and shift, then
// one elementwise generic `x * scale + shift`.

// CHECK-LABEL: func.func @max_pool2d
// CHECK-SAME: (%[[X:.*]]: tensor<1x4x9x9xf32>)
// CHECK: %[[WINDOW:.*]] = tensor.empty() : tensor<3x2xf32>
// CHECK-NEXT: %[[NEG_INF:.*]] = arith.constant 0xff800000 : f32
// CHECK-NEXT: %[[E:.*]] = tensor.empty() : tensor<1x4x4x3xf32>
// CHECK-NEXT: %[[INIT:.*]] = linalg.fill ins(%[[NEG_INF]] : f32) outs(%[[E]] : tensor<1x4x4x3xf32>)
// CHECK-NEXT: %[[Y:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, ((d2 * 2) + d4), ((d3 * 3) + (d5 * 2)))>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d4, d5)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]} ins(%[[X]], %[[WINDOW]] : tensor<1x4x9x9xf32>, tensor<3x2xf32>) outs(%[[INIT]] : tensor<1x4x4x3xf32>) {
// CHECK-NEXT: ^{{.*}}(%[[IN:.*]]: f32, %{{.*}}: f32, %[[ACC:.*]]: f32):
// CHECK-NEXT: %[[MAX:.*]] = arith.maximumf %[[ACC]], %[[IN]] : f32
// CHECK-NEXT: linalg.yield %[[MAX]] : f32
// CHECK: func.return %[[Y]] : tensor<1x4x4x3xf32>
func.func @max_pool2d(%x: tensor<1x4x9x9xf32>) -> tensor<1x4x4x3xf32> {
  %0 = graph.max_pool2d %x {kernel = array<i64: 3, 2>, stride = array<i64: 2, 3>, dilation = array<i64: 1, 2>} : tensor<1x4x9x9xf32> -> tensor<1x4x4x3xf32>
  func.return %0 : tensor<1x4x4x3xf32>
}

// -----

// Sum pooling: the same window, into zeros, combined by addf.
// CHECK-LABEL: func.func @sum_pool2d
// CHECK: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f64
// CHECK: %[[INIT:.*]] = linalg.fill ins(%[[ZERO]] : f64)
// CHECK-NEXT: linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, (d2 + d4), (d3 + d5))>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d4, d5)>, affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2, d3)>]
// CHECK-SAME: outs(%[[INIT]] : tensor<2x1x4x4xf64>)
// CHECK-NEXT: ^{{.*}}(%[[IN:.*]]: f64, %{{.*}}: f64, %[[ACC:.*]]: f64):
// CHECK-NEXT: arith.addf %[[ACC]], %[[IN]] : f64
func.func @sum_pool2d(%x: tensor<2x1x5x5xf64>) -> tensor<2x1x4x4xf64> {
  %0 = graph.sum_pool2d %x {kernel = array<i64: 2, 2>, stride = array<i64: 1, 1>, dilation = array<i64: 1, 1>} : tensor<2x1x5x5xf64> -> tensor<2x1x4x4xf64>
  func.return %0 : tensor<2x1x4x4xf64>
}

// -----

// CHECK-LABEL: func.func @batch_norm_inference
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x4x5xf32>, %[[W:.*]]: tensor<3xf32>, %[[B:.*]]: tensor<3xf32>, %[[M:.*]]: tensor<3xf32>, %[[V:.*]]: tensor<3xf32>)
// CHECK: %[[SCALE:.*]], %[[SHIFT:.*]] = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%[[W]], %[[B]], %[[M]], %[[V]] : {{.*}}) outs(%{{.*}}, %{{.*}} : tensor<3xf32>, tensor<3xf32>) {
// CHECK-NEXT: ^{{.*}}(%[[WS:.*]]: f32, %[[BS:.*]]: f32, %[[MS:.*]]: f32, %[[VS:.*]]: f32, %{{.*}}: f32, %{{.*}}: f32):
// CHECK-NEXT: %[[EPS:.*]] = arith.constant 1.000000e-05 : f32
// CHECK-NEXT: %[[SUM:.*]] = arith.addf %[[VS]], %[[EPS]] : f32
// CHECK-NEXT: %[[ROOT:.*]] = math.sqrt %[[SUM]] : f32
// CHECK-NEXT: %[[S:.*]] = arith.divf %[[WS]], %[[ROOT]] : f32
// CHECK-NEXT: %[[MEAN_SCALED:.*]] = arith.mulf %[[MS]], %[[S]] : f32
// CHECK-NEXT: %[[T:.*]] = arith.subf %[[BS]], %[[MEAN_SCALED]] : f32
// CHECK-NEXT: linalg.yield %[[S]], %[[T]] : f32, f32
// CHECK: %[[Y:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d1)>, affine_map<(d0, d1, d2, d3) -> (d1)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%[[X]], %[[SCALE]], %[[SHIFT]] : {{.*}})
// CHECK-NEXT: ^{{.*}}(%[[XS:.*]]: f32, %[[SC:.*]]: f32, %[[SH:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: %[[P:.*]] = arith.mulf %[[XS]], %[[SC]] : f32
// CHECK-NEXT: %[[R:.*]] = arith.addf %[[P]], %[[SH]] : f32
// CHECK-NEXT: linalg.yield %[[R]] : f32
// CHECK: func.return %[[Y]]
func.func @batch_norm_inference(%x: tensor<2x3x4x5xf32>, %w: tensor<3xf32>, %b: tensor<3xf32>, %m: tensor<3xf32>, %v: tensor<3xf32>) -> tensor<2x3x4x5xf32> {
  %0 = graph.batch_norm_inference %x, %w, %b, %m, %v {eps = 1.0e-5 : f64} : tensor<2x3x4x5xf32>, tensor<3xf32>
  func.return %0 : tensor<2x3x4x5xf32>
}
