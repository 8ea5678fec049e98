// RUN: aidjit-opt %s --split-input-file -p convert-graph-to-linalg | filecheck %s

// graph.conv2d becomes im2col + a contraction (lowering/conv.py): the channels split
// into (group, channel) by reshapes; the im2col generic reads the input through the window map
// `y * stride + i * dilation`; the contraction is a matmul nest (n, g, f, k, p) into zeros.

// CHECK-LABEL: func.func @conv2d
// CHECK-SAME: (%[[X:.*]]: tensor<1x4x7x6xf32>, %[[W:.*]]: tensor<6x2x3x2xf32>) -> tensor<1x6x3x2xf32>
// CHECK: %[[FLAT:.*]] = tensor.collapse_shape %[[X]] {{\[}}[0 : i64], [1 : i64, 2 : i64, 3 : i64]] : tensor<1x4x7x6xf32> into tensor<1x168xf32>
// CHECK-NEXT: %[[GROUPED:.*]] = tensor.expand_shape %[[FLAT]] {{.*}} output_shape [1, 2, 2, 7, 6] : tensor<1x168xf32> into tensor<1x2x2x7x6xf32>
// CHECK-NEXT: %[[E:.*]] = tensor.empty() : tensor<1x2x2x3x2x3x2xf32>
// CHECK-NEXT: %[[COLS:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4, d5, d6) -> (d0, d1, d2, ((d5 * 2) + d3), ((d6 * 2) + (d4 * 2)))>, affine_map<(d0, d1, d2, d3, d4, d5, d6) -> (d0, d1, d2, d3, d4, d5, d6)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "parallel", "parallel"]} ins(%[[GROUPED]] : tensor<1x2x2x7x6xf32>) outs(%[[E]] : tensor<1x2x2x3x2x3x2xf32>) {
// CHECK-NEXT: ^{{.*}}(%[[V:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: linalg.yield %[[V]] : f32
// CHECK: %[[PATCHES:.*]] = tensor.expand_shape %{{.*}} output_shape [1, 2, 12, 6] : tensor<1x144xf32> into tensor<1x2x12x6xf32>
// CHECK: %[[WEIGHTS:.*]] = tensor.expand_shape %{{.*}} output_shape [2, 3, 12] : tensor<72xf32> into tensor<2x3x12xf32>
// CHECK: %[[ZEROS:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<1x2x3x6xf32>)
// CHECK-NEXT: %[[OUT:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4) -> (d1, d2, d3)>, affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d3, d4)>, affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>], iterator_types = ["parallel", "parallel", "parallel", "reduction", "parallel"]} ins(%[[WEIGHTS]], %[[PATCHES]] : tensor<2x3x12xf32>, tensor<1x2x12x6xf32>) outs(%[[ZEROS]] : tensor<1x2x3x6xf32>) {
// CHECK-NEXT: ^{{.*}}(%[[A:.*]]: f32, %[[B:.*]]: f32, %[[ACC:.*]]: f32):
// CHECK-NEXT: %[[FMA:.*]] = math.fma %[[A]], %[[B]], %[[ACC]] : f32
// CHECK-NEXT: linalg.yield %[[FMA]] : f32
// CHECK: %[[Y:.*]] = tensor.expand_shape %{{.*}} output_shape [1, 6, 3, 2] : tensor<1x36xf32> into tensor<1x6x3x2xf32>
// CHECK-NEXT: func.return %[[Y]] : tensor<1x6x3x2xf32>
func.func @conv2d(%x: tensor<1x4x7x6xf32>, %w: tensor<6x2x3x2xf32>) -> tensor<1x6x3x2xf32> {
  %0 = graph.conv2d %x, %w stride [2, 2] dilation [1, 2] groups 2 : tensor<1x4x7x6xf32>, tensor<6x2x3x2xf32> -> tensor<1x6x3x2xf32>
  func.return %0 : tensor<1x6x3x2xf32>
}

// -----

// A batch of 2 with an output plane under 32 positions (a weight gradient's 3x3 kernel is the
// usual case): the im2col generic's loops are (g, c, i, j, n, y, x), the window map reading
// the input at (n, g, c, ...) = (d4, d0, d1, ...), so the patches are [G, K, N * P] and the
// contraction (g, f, k, q) has N * P = 12 columns; a copy then puts its [G, F, N, P] result
// back into NCHW order.
// CHECK-LABEL: func.func @conv2d_batch_in_columns
// CHECK: %[[COLS:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4, d5, d6) -> (d4, d0, d1, ((d5 * 2) + d2), ((d6 * 2) + (d3 * 2)))>, affine_map<(d0, d1, d2, d3, d4, d5, d6) -> (d0, d1, d2, d3, d4, d5, d6)>]{{.*}} outs(%{{.*}} : tensor<2x2x3x2x2x3x2xf32>)
// CHECK: %[[PATCHES:.*]] = tensor.expand_shape %{{.*}} output_shape [2, 12, 12] : tensor<288xf32> into tensor<2x12x12xf32>
// CHECK: %[[OUT:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>], iterator_types = ["parallel", "parallel", "reduction", "parallel"]} ins(%{{.*}}, %[[PATCHES]] : tensor<2x3x12xf32>, tensor<2x12x12xf32>) outs(%{{.*}} : tensor<2x3x12xf32>)
// CHECK: math.fma
// CHECK: %[[PLANES:.*]] = tensor.expand_shape %{{.*}} output_shape [2, 3, 2, 6] : tensor<72xf32> into tensor<2x3x2x6xf32>
// CHECK: linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d1, d2, d0, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>]{{.*}} ins(%[[PLANES]] : tensor<2x3x2x6xf32>) outs(%{{.*}} : tensor<2x2x3x6xf32>)
// CHECK: tensor.expand_shape %{{.*}} output_shape [2, 6, 3, 2] : tensor<2x36xf32> into tensor<2x6x3x2xf32>
func.func @conv2d_batch_in_columns(%x: tensor<2x4x7x6xf32>, %w: tensor<6x2x3x2xf32>) -> tensor<2x6x3x2xf32> {
  %0 = graph.conv2d %x, %w stride [2, 2] dilation [1, 2] groups 2 : tensor<2x4x7x6xf32>, tensor<6x2x3x2xf32> -> tensor<2x6x3x2xf32>
  func.return %0 : tensor<2x6x3x2xf32>
}

// -----

// Stride and dilation 1: the window map is a plain sum of dims (x + j).
// CHECK-LABEL: func.func @conv2d_unit
// CHECK: linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4, d5, d6) -> (d0, d1, d2, (d5 + d3), (d6 + d4))>
func.func @conv2d_unit(%x: tensor<1x3x5x5xf64>, %w: tensor<2x3x3x3xf64>) -> tensor<1x2x3x3xf64> {
  %0 = graph.conv2d %x, %w : tensor<1x3x5x5xf64>, tensor<2x3x3x3xf64> -> tensor<1x2x3x3xf64>
  func.return %0 : tensor<1x2x3x3xf64>
}
