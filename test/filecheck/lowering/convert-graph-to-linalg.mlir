// RUN: aidjit-opt %s --split-input-file -p convert-graph-to-linalg | filecheck %s

// Every graph op becomes structured ops on tensors: one linalg.generic per op (indexing maps,
// iterator types, a scalar body), fills for initial values, tensor views for reshape and slice.
// Signatures stay tensors in, tensors out.

// Elementwise: parallel iterators over the result; numpy broadcasting is in the input maps
// (a missing leading dim is dropped, a size-1 dim reads index 0).
// CHECK-LABEL: func.func @elementwise
// CHECK-SAME: (%[[X:.*]]: tensor<4x3xf32>, %[[B:.*]]: tensor<3xf32>, %[[C:.*]]: tensor<4x1xf32>) -> tensor<4x3xf32>
// CHECK: %[[E0:.*]] = tensor.empty() : tensor<4x3xf32>
// CHECK-NEXT: %[[ADD:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%[[X]], %[[B]] : tensor<4x3xf32>, tensor<3xf32>) outs(%[[E0]] : tensor<4x3xf32>) {
// CHECK-NEXT: ^{{.*}}(%[[A0:.*]]: f32, %[[A1:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: %[[S:.*]] = arith.addf %[[A0]], %[[A1]] : f32
// CHECK-NEXT: linalg.yield %[[S]] : f32
// CHECK-NEXT: } -> tensor<4x3xf32>
// CHECK-NEXT: %[[E1:.*]] = tensor.empty() : tensor<4x3xf32>
// CHECK-NEXT: %[[MUL:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, 0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%[[ADD]], %[[C]] : tensor<4x3xf32>, tensor<4x1xf32>) outs(%[[E1]] : tensor<4x3xf32>) {
// CHECK: arith.mulf
// CHECK: func.return %[[MUL]] : tensor<4x3xf32>
func.func @elementwise(%x: tensor<4x3xf32>, %b: tensor<3xf32>, %c: tensor<4x1xf32>) -> tensor<4x3xf32> {
  %0 = graph.add %x, %b : tensor<4x3xf32>, tensor<3xf32> -> tensor<4x3xf32>
  %1 = graph.multiply %0, %c : tensor<4x3xf32>, tensor<4x1xf32> -> tensor<4x3xf32>
  func.return %1 : tensor<4x3xf32>
}

// -----

// Scalar bodies that are more than one op: constants live inside the body; masks are selects
// of 1 and 0; sigmoid is 0.5 * tanh(0.5 * x) + 0.5 (no overflow); sign is two selects.
// CHECK-LABEL: func.func @scalar_bodies
// CHECK: ^{{.*}}(%[[R:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: %[[RELU:.*]] = arith.maximumf %[[R]], %[[ZERO]] : f32
// CHECK-NEXT: linalg.yield %[[RELU]] : f32
// CHECK: ^{{.*}}(%[[G:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: %[[HALF:.*]] = arith.constant 5.000000e-01 : f32
// CHECK-NEXT: %[[G0:.*]] = arith.mulf %[[G]], %[[HALF]] : f32
// CHECK-NEXT: %[[G1:.*]] = math.tanh %[[G0]] : f32
// CHECK-NEXT: %[[G2:.*]] = arith.mulf %[[G1]], %[[HALF]] : f32
// CHECK-NEXT: %[[G3:.*]] = arith.addf %[[G2]], %[[HALF]] : f32
// CHECK-NEXT: linalg.yield %[[G3]] : f32
// CHECK: ^{{.*}}(%[[P:.*]]: f32, %[[Q:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: %[[GT:.*]] = arith.cmpf ogt, %[[P]], %[[Q]] : f32
// CHECK-NEXT: %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK-NEXT: %[[NIL:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: %[[MASK:.*]] = arith.select %[[GT]], %[[ONE]], %[[NIL]] : f32
// CHECK-NEXT: linalg.yield %[[MASK]] : f32
// CHECK: ^{{.*}}(%[[V:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: %[[Z:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: %[[LT:.*]] = arith.cmpf olt, %[[V]], %[[Z]] : f32
// CHECK-NEXT: %[[M1:.*]] = arith.constant -1.000000e+00 : f32
// CHECK-NEXT: %[[NEG:.*]] = arith.select %[[LT]], %[[M1]], %[[V]] : f32
// CHECK-NEXT: %[[POS:.*]] = arith.cmpf ogt, %[[V]], %[[Z]] : f32
// CHECK-NEXT: %[[P1:.*]] = arith.constant 1.000000e+00 : f32
// CHECK-NEXT: %[[SIGN:.*]] = arith.select %[[POS]], %[[P1]], %[[NEG]] : f32
// CHECK-NEXT: linalg.yield %[[SIGN]] : f32
func.func @scalar_bodies(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) {
  %0 = graph.relu %x : tensor<4xf32>
  %1 = graph.sigmoid %x : tensor<4xf32>
  %2 = graph.greater %x, %0 : tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>
  %3 = graph.sign %x : tensor<4xf32>
  func.return %0, %1, %2, %3 : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
}

// -----

// A reduction: the input's dims in order, the reduced one a "reduction" iterator, into a fill
// of the initial value; mean divides by the count in a separate elementwise generic, and
// keepdims is an expand_shape of the reduced tensor.
// CHECK-LABEL: func.func @mean_keepdims
// CHECK-SAME: (%[[X:.*]]: tensor<4x3xf32>) -> tensor<4x1xf32>
// CHECK: %[[INIT:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: %[[E:.*]] = tensor.empty() : tensor<4xf32>
// CHECK-NEXT: %[[FILL:.*]] = linalg.fill ins(%[[INIT]] : f32) outs(%[[E]] : tensor<4xf32>) -> tensor<4xf32>
// CHECK-NEXT: %[[SUM:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%[[X]] : tensor<4x3xf32>) outs(%[[FILL]] : tensor<4xf32>) {
// CHECK-NEXT: ^{{.*}}(%[[IN:.*]]: f32, %[[ACC:.*]]: f32):
// CHECK-NEXT: %[[ADD:.*]] = arith.addf %[[ACC]], %[[IN]] : f32
// CHECK-NEXT: linalg.yield %[[ADD]] : f32
// CHECK: %[[MEAN:.*]] = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%[[SUM]] : tensor<4xf32>)
// CHECK-NEXT: ^{{.*}}(%[[T:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: %[[COUNT:.*]] = arith.constant 3.000000e+00 : f32
// CHECK-NEXT: %[[DIV:.*]] = arith.divf %[[T]], %[[COUNT]] : f32
// CHECK-NEXT: linalg.yield %[[DIV]] : f32
// CHECK: %[[KEPT:.*]] = tensor.expand_shape %[[MEAN]] {{\[\[}}0 : i64, 1 : i64{{\]\]}} output_shape [4, 1] : tensor<4xf32> into tensor<4x1xf32>
// CHECK-NEXT: func.return %[[KEPT]] : tensor<4x1xf32>
func.func @mean_keepdims(%x: tensor<4x3xf32>) -> tensor<4x1xf32> {
  %0 = graph.mean %x {axes = array<i64: 1>, keepdims} : tensor<4x3xf32> -> tensor<4x1xf32>
  func.return %0 : tensor<4x1xf32>
}

// -----

// reduce_max starts from -inf and combines with the nan-propagating arith.maximumf; reducing
// the outer axis makes the first iterator the reduction.
// CHECK-LABEL: func.func @reduce_max
// CHECK: %[[NEGINF:.*]] = arith.constant 0xff800000 : f32
// CHECK-NEXT: %[[E:.*]] = tensor.empty() : tensor<3xf32>
// CHECK-NEXT: %[[FILL:.*]] = linalg.fill ins(%[[NEGINF]] : f32) outs(%[[E]] : tensor<3xf32>) -> tensor<3xf32>
// CHECK-NEXT: linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>], iterator_types = ["reduction", "parallel"]} ins(%{{.*}} : tensor<4x3xf32>) outs(%[[FILL]] : tensor<3xf32>) {
// CHECK-NEXT: ^{{.*}}(%[[IN:.*]]: f32, %[[ACC:.*]]: f32):
// CHECK-NEXT: %[[MAX:.*]] = arith.maximumf %[[ACC]], %[[IN]] : f32
// CHECK-NEXT: linalg.yield %[[MAX]] : f32
func.func @reduce_max(%x: tensor<4x3xf32>) -> tensor<3xf32> {
  %0 = graph.reduce_max %x {axes = array<i64: 0>} : tensor<4x3xf32> -> tensor<3xf32>
  func.return %0 : tensor<3xf32>
}

// -----

// Matmul: a contraction over a zero fill with loops (i, k, j), j innermost so B and C are
// walked with stride 1, each step an explicit math.fma.
// CHECK-LABEL: func.func @matmul
// CHECK-SAME: (%[[A:.*]]: tensor<2x3xf32>, %[[B:.*]]: tensor<3x5xf32>) -> tensor<2x5xf32>
// CHECK: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: %[[E:.*]] = tensor.empty() : tensor<2x5xf32>
// CHECK-NEXT: %[[FILL:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%[[E]] : tensor<2x5xf32>) -> tensor<2x5xf32>
// CHECK-NEXT: linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d2)>], iterator_types = ["parallel", "reduction", "parallel"]} ins(%[[A]], %[[B]] : tensor<2x3xf32>, tensor<3x5xf32>) outs(%[[FILL]] : tensor<2x5xf32>) {
// CHECK-NEXT: ^{{.*}}(%[[AV:.*]]: f32, %[[BV:.*]]: f32, %[[CV:.*]]: f32):
// CHECK-NEXT: %[[FMA:.*]] = math.fma %[[AV]], %[[BV]], %[[CV]] : f32
// CHECK-NEXT: linalg.yield %[[FMA]] : f32
func.func @matmul(%a: tensor<2x3xf32>, %b: tensor<3x5xf32>) -> tensor<2x5xf32> {
  %0 = graph.matmul %a, %b : tensor<2x3xf32>, tensor<3x5xf32> -> tensor<2x5xf32>
  func.return %0 : tensor<2x5xf32>
}

// -----

// Batched matmul runs (b, i, k, j); a shared 2-D right operand is read without the batch dim.
// CHECK-LABEL: func.func @matmul_batched
// CHECK-SAME: (%[[A:.*]]: tensor<2x3x4xf32>, %[[B:.*]]: tensor<2x4x5xf32>, %[[W:.*]]: tensor<4x5xf32>)
// CHECK: linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>], iterator_types = ["parallel", "parallel", "reduction", "parallel"]} ins(%[[A]], %[[B]] : tensor<2x3x4xf32>, tensor<2x4x5xf32>)
// CHECK: math.fma
// CHECK: linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>, affine_map<(d0, d1, d2, d3) -> (d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>], iterator_types = ["parallel", "parallel", "reduction", "parallel"]} ins(%[[A]], %[[W]] : tensor<2x3x4xf32>, tensor<4x5xf32>)
// CHECK: math.fma
func.func @matmul_batched(%a: tensor<2x3x4xf32>, %b: tensor<2x4x5xf32>, %w: tensor<4x5xf32>) -> (tensor<2x3x5xf32>, tensor<2x3x5xf32>) {
  %0 = graph.matmul %a, %b : tensor<2x3x4xf32>, tensor<2x4x5xf32> -> tensor<2x3x5xf32>
  %1 = graph.matmul %a, %w : tensor<2x3x4xf32>, tensor<4x5xf32> -> tensor<2x3x5xf32>
  func.return %0, %1 : tensor<2x3x5xf32>, tensor<2x3x5xf32>
}

// -----

// transpose and broadcast_to are copies whose input map moves the elements: output dim n of
// a transpose reads input dim perm[n]; a broadcast drops new leading dims and pins size-1 dims.
// CHECK-LABEL: func.func @transpose
// CHECK: linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d1, d2, d0)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel"]} ins(%{{.*}} : tensor<4x3x2xf32>) outs(%{{.*}} : tensor<2x4x3xf32>) {
// CHECK-NEXT: ^{{.*}}(%[[V:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: linalg.yield %[[V]] : f32
func.func @transpose(%x: tensor<4x3x2xf32>) -> tensor<2x4x3xf32> {
  %0 = graph.transpose %x {perm = array<i64: 2, 0, 1>} : tensor<4x3x2xf32> -> tensor<2x4x3xf32>
  func.return %0 : tensor<2x4x3xf32>
}

// -----

// CHECK-LABEL: func.func @broadcast_to
// CHECK: linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d1, 0)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel"]} ins(%{{.*}} : tensor<3x1xf32>) outs(%{{.*}} : tensor<2x3x4xf32>) {
// CHECK-NEXT: ^{{.*}}(%[[V:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: linalg.yield %[[V]] : f32
func.func @broadcast_to(%x: tensor<3x1xf32>) -> tensor<2x3x4xf32> {
  %0 = graph.broadcast_to %x : tensor<3x1xf32> -> tensor<2x3x4xf32>
  func.return %0 : tensor<2x3x4xf32>
}

// -----

// reshape goes through rank 1: a collapse_shape then an expand_shape, no generic.
// CHECK-LABEL: func.func @reshape
// CHECK-SAME: (%[[X:.*]]: tensor<2x6xf32>)
// CHECK-NEXT: %[[FLAT:.*]] = tensor.collapse_shape %[[X]] {{\[\[}}0 : i64, 1 : i64{{\]\]}} : tensor<2x6xf32> into tensor<12xf32>
// CHECK-NEXT: %[[R:.*]] = tensor.expand_shape %[[FLAT]] {{\[\[}}0 : i64, 1 : i64{{\]\]}} output_shape [3, 4] : tensor<12xf32> into tensor<3x4xf32>
// CHECK-NEXT: func.return %[[R]] : tensor<3x4xf32>
func.func @reshape(%x: tensor<2x6xf32>) -> tensor<3x4xf32> {
  %0 = graph.reshape %x : tensor<2x6xf32> -> tensor<3x4xf32>
  func.return %0 : tensor<3x4xf32>
}

// -----

// slice is an extract_slice with the op's start and strides (negative walks backwards); pad is
// a zero fill with the input inserted at `low`, every (interior + 1)-th element.
// CHECK-LABEL: func.func @slice_and_pad
// CHECK-SAME: (%[[X:.*]]: tensor<4x6xf32>)
// CHECK-NEXT: %[[S:.*]] = tensor.extract_slice %[[X]][3, 1] [2, 3] [-2, 2] : tensor<4x6xf32> to tensor<2x3xf32>
// CHECK-NEXT: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: %[[E:.*]] = tensor.empty() : tensor<5x8xf32>
// CHECK-NEXT: %[[FILL:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%[[E]] : tensor<5x8xf32>) -> tensor<5x8xf32>
// CHECK-NEXT: %[[P:.*]] = tensor.insert_slice %[[S]] into %[[FILL]][1, 0] [2, 3] [1, 3] : tensor<2x3xf32> into tensor<5x8xf32>
// CHECK-NEXT: func.return %[[P]] : tensor<5x8xf32>
func.func @slice_and_pad(%x: tensor<4x6xf32>) -> tensor<5x8xf32> {
  %0 = graph.slice %x {start = array<i64: 3, 1>, strides = array<i64: -2, 2>} : tensor<4x6xf32> -> tensor<2x3xf32>
  %1 = graph.pad %0 {low = array<i64: 1, 0>, high = array<i64: 2, 1>, interior = array<i64: 0, 2>} : tensor<2x3xf32> -> tensor<5x8xf32>
  func.return %1 : tensor<5x8xf32>
}

// -----

// one_hot reads the label once per row and compares it with linalg.index of the class dim.
// CHECK-LABEL: func.func @one_hot
// CHECK: linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%{{.*}} : tensor<5xi64>) outs(%{{.*}} : tensor<5x4xf32>) {
// CHECK-NEXT: ^{{.*}}(%[[L:.*]]: i64, %{{.*}}: f32):
// CHECK-NEXT: %[[IDX:.*]] = arith.index_cast %[[L]] : i64 to index
// CHECK-NEXT: %[[CLASS:.*]] = linalg.index 1 : index
// CHECK-NEXT: %[[EQ:.*]] = arith.cmpi eq, %[[IDX]], %[[CLASS]] : index
// CHECK-NEXT: %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK-NEXT: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: %[[HOT:.*]] = arith.select %[[EQ]], %[[ONE]], %[[ZERO]] : f32
// CHECK-NEXT: linalg.yield %[[HOT]] : f32
func.func @one_hot(%y: tensor<5xi64>) -> tensor<5x4xf32> {
  %0 = graph.one_hot %y : tensor<5xi64> -> tensor<5x4xf32>
  func.return %0 : tensor<5x4xf32>
}

// -----

// where selects on `condition != 0`: unordered for a float mask (NaN counts as true, as in
// numpy), cmpi for an int64 condition. The condition is the first input.
// CHECK-LABEL: func.func @where
// CHECK-SAME: (%[[X:.*]]: tensor<4xf32>, %[[Y:.*]]: tensor<4xf32>, %[[C:.*]]: tensor<4xi64>)
// CHECK: %[[MASK:.*]] = linalg.generic
// CHECK: linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%[[MASK]], %[[X]], %[[Y]] : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>)
// CHECK-NEXT: ^{{.*}}(%[[M:.*]]: f32, %[[A:.*]]: f32, %[[B:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: %[[FZ:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: %[[FNE:.*]] = arith.cmpf une, %[[M]], %[[FZ]] : f32
// CHECK-NEXT: %[[FS:.*]] = arith.select %[[FNE]], %[[A]], %[[B]] : f32
// CHECK-NEXT: linalg.yield %[[FS]] : f32
// CHECK: linalg.generic {{.*}} ins(%[[C]], %[[X]], %[[Y]] : tensor<4xi64>, tensor<4xf32>, tensor<4xf32>)
// CHECK-NEXT: ^{{.*}}(%[[I:.*]]: i64, %[[IA:.*]]: f32, %[[IB:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: %[[IZ:.*]] = arith.constant 0 : i64
// CHECK-NEXT: %[[INE:.*]] = arith.cmpi ne, %[[I]], %[[IZ]] : i64
// CHECK-NEXT: %[[IS:.*]] = arith.select %[[INE]], %[[IA]], %[[IB]] : f32
// CHECK-NEXT: linalg.yield %[[IS]] : f32
func.func @where(%x: tensor<4xf32>, %y: tensor<4xf32>, %c: tensor<4xi64>) -> (tensor<4xf32>, tensor<4xf32>) {
  %0 = graph.not_equal %x, %y : tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>
  %1 = graph.where %0, %x, %y : tensor<4xf32>, tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>
  %2 = graph.where %c, %x, %y : tensor<4xi64>, tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>
  func.return %1, %2 : tensor<4xf32>, tensor<4xf32>
}

// -----

// astype is one arith cast per element, the output's element type differing from the input's:
// truncf, fptosi (toward zero, as numpy), sitofp, extf.
// CHECK-LABEL: func.func @casts
// CHECK: ins(%{{.*}} : tensor<4xf64>) outs(%{{.*}} : tensor<4xf32>)
// CHECK: arith.truncf %{{.*}} : f64 to f32
// CHECK: ins(%{{.*}} : tensor<4xf64>) outs(%{{.*}} : tensor<4xi64>)
// CHECK: arith.fptosi %{{.*}} : f64 to i64
// CHECK: ins(%{{.*}} : tensor<4xi64>) outs(%{{.*}} : tensor<4xf64>)
// CHECK: arith.sitofp %{{.*}} : i64 to f64
// CHECK: ins(%{{.*}} : tensor<4xf32>) outs(%{{.*}} : tensor<4xf64>)
// CHECK: arith.extf %{{.*}} : f32 to f64
func.func @casts(%x: tensor<4xf64>, %y: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xi64>, tensor<4xf64>, tensor<4xf64>) {
  %0 = graph.astype %x : tensor<4xf64> -> tensor<4xf32>
  %1 = graph.astype %x : tensor<4xf64> -> tensor<4xi64>
  %2 = graph.astype %1 : tensor<4xi64> -> tensor<4xf64>
  %3 = graph.astype %y : tensor<4xf32> -> tensor<4xf64>
  func.return %0, %1, %2, %3 : tensor<4xf32>, tensor<4xi64>, tensor<4xf64>, tensor<4xf64>
}

// -----

// Constants become arith.constant tensors, read as ordinary inputs (a splat is folded into the
// bodies later, by linalg-fuse-elementwise); a zero-size constant stays a constant.
// CHECK-LABEL: func.func @constants
// CHECK-SAME: (%[[X:.*]]: tensor<3xf32>)
// CHECK-NEXT: %[[C:.*]] = arith.constant dense<[1.000000e+00, 2.000000e+00, 3.000000e+00]> : tensor<3xf32>
// CHECK-NEXT: %[[S:.*]] = arith.constant dense<2.000000e+00> : tensor<3xf32>
// CHECK-NEXT: %[[Z:.*]] = arith.constant dense<> : tensor<0x3xf32>
// CHECK: %[[MUL:.*]] = linalg.generic {{.*}} ins(%[[X]], %[[C]] : tensor<3xf32>, tensor<3xf32>)
// CHECK: %[[ADD:.*]] = linalg.generic {{.*}} ins(%[[MUL]], %[[S]] : tensor<3xf32>, tensor<3xf32>)
// CHECK: func.return %[[ADD]], %[[Z]] : tensor<3xf32>, tensor<0x3xf32>
func.func @constants(%x: tensor<3xf32>) -> (tensor<3xf32>, tensor<0x3xf32>) {
  %c = graph.constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
  %s = graph.constant dense<2.0> : tensor<3xf32>
  %z = graph.constant dense<> : tensor<0x3xf32>
  %0 = graph.multiply %x, %c : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
  %1 = graph.add %0, %s : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
  func.return %1, %z : tensor<3xf32>, tensor<0x3xf32>
}

// -----

// concat inserts each operand at its offset along the axis into a tensor.empty (the operands
// cover it: no fill); an operand with no elements inserts nothing.
// CHECK-LABEL: func.func @concat
// CHECK-SAME: (%[[A:.*]]: tensor<2x3xf32>, %[[B:.*]]: tensor<2x1xf32>, %[[E:.*]]: tensor<2x0xf32>)
// CHECK-NEXT: %[[INIT:.*]] = tensor.empty() : tensor<2x7xf32>
// CHECK-NEXT: %[[J0:.*]] = tensor.insert_slice %[[A]] into %[[INIT]][0, 0] [2, 3] [1, 1] : tensor<2x3xf32> into tensor<2x7xf32>
// CHECK-NEXT: %[[J1:.*]] = tensor.insert_slice %[[B]] into %[[J0]][0, 3] [2, 1] [1, 1] : tensor<2x1xf32> into tensor<2x7xf32>
// CHECK-NEXT: %[[J2:.*]] = tensor.insert_slice %[[A]] into %[[J1]][0, 4] [2, 3] [1, 1] : tensor<2x3xf32> into tensor<2x7xf32>
// CHECK-NEXT: func.return %[[J2]] : tensor<2x7xf32>
func.func @concat(%a: tensor<2x3xf32>, %b: tensor<2x1xf32>, %e: tensor<2x0xf32>) -> tensor<2x7xf32> {
  %0 = graph.concat %a, %b, %e, %a {axis = 1} : tensor<2x3xf32>, tensor<2x1xf32>, tensor<2x0xf32>, tensor<2x3xf32> -> tensor<2x7xf32>
  func.return %0 : tensor<2x7xf32>
}

// -----

// pad's padding value is the fill (-inf here, as max pooling pads).
// CHECK-LABEL: func.func @pad_value
// CHECK-SAME: (%[[X:.*]]: tensor<2x3xf64>)
// CHECK-NEXT: %[[V:.*]] = arith.constant 0xfff0000000000000 : f64
// CHECK-NEXT: %[[E:.*]] = tensor.empty() : tensor<4x5xf64>
// CHECK-NEXT: %[[FILL:.*]] = linalg.fill ins(%[[V]] : f64) outs(%[[E]] : tensor<4x5xf64>) -> tensor<4x5xf64>
// CHECK-NEXT: %[[P:.*]] = tensor.insert_slice %[[X]] into %[[FILL]][1, 0] [2, 3] [1, 1] : tensor<2x3xf64> into tensor<4x5xf64>
// CHECK-NEXT: func.return %[[P]] : tensor<4x5xf64>
func.func @pad_value(%x: tensor<2x3xf64>) -> tensor<4x5xf64> {
  %0 = graph.pad %x {low = array<i64: 1, 0>, high = array<i64: 1, 2>, interior = array<i64: 0, 0>, value = 0xFFF0000000000000 : f64} : tensor<2x3xf64> -> tensor<4x5xf64>
  func.return %0 : tensor<4x5xf64>
}
