// RUN: aidjit-opt %s --split-input-file -p convert-graph-to-linalg,linalg-fuse-elementwise,linalg-fuse-siblings,linalg-split-reduction,linalg-fuse-rows | filecheck %s

// Graph-level inputs go through the fusion passes that run before linalg-fuse-rows in the
// default pipeline (without canonicalize and cse, so each fill keeps its own init). The CHECK
// lines show which ops got `aidjit.row_group = <n>`: every op with loops of one row group
// carries the same n. Between two checked members, `CHECK-NOT: linalg.{{(fill|generic)...}}`
// rejects any fill or generic line that lacks `aidjit.row_group = 0` (an unmarked op, or one
// in another group). Ops without loops (tensor.empty, constants, views) are never marked.

// Softmax, its row max and row sum split into 16 lanes: the max (init fill, lane fill, partial
// and final reductions), exp(x - max), the sum (same four ops) and the division all read row i
// of what the group computed before them (the row maxima through an expand_shape to 4x1 that
// keeps the row dim), so all ten ops share row group 0.
// CHECK-LABEL: func.func @softmax
// CHECK-SAME: (%[[X:.*]]: tensor<4x64xf32>)
// CHECK: %[[MAX_INIT:.*]] = linalg.fill {aidjit.row_group = 0 : i64} ins(%{{.*}} : f32) outs(%{{.*}} : tensor<4xf32>)
// CHECK-NOT: linalg.{{(fill|generic)((?!aidjit.row_group = 0 ).)*\n}}
// CHECK: %[[XS:.*]] = tensor.expand_shape %[[X]] {{.*}} into tensor<4x4x16xf32>
// CHECK-NOT: linalg.{{(fill|generic)((?!aidjit.row_group = 0 ).)*\n}}
// CHECK: %[[MAX_LANES:.*]] = linalg.fill {aidjit.row_group = 0 : i64} ins(%{{.*}} : f32) outs(%{{.*}} : tensor<4x16xf32>)
// CHECK-NEXT: %[[MAX_PART:.*]] = linalg.generic {{.*}} ins(%[[XS]] : tensor<4x4x16xf32>) outs(%[[MAX_LANES]] : tensor<4x16xf32>) attrs =  {aidjit.row_group = 0 : i64} {
// CHECK-NEXT: ^
// CHECK-NEXT: arith.maximumf
// CHECK-NEXT: linalg.yield
// CHECK-NEXT: }
// CHECK-NEXT: %[[MAX:.*]] = linalg.generic {{.*}} ins(%[[MAX_PART]] : tensor<4x16xf32>) outs(%[[MAX_INIT]] : tensor<4xf32>) attrs =  {aidjit.row_group = 0 : i64} {
// CHECK-NEXT: ^
// CHECK-NEXT: arith.maximumf
// CHECK-NEXT: linalg.yield
// CHECK-NEXT: }
// CHECK-NEXT: %[[MAX_COL:.*]] = tensor.expand_shape %[[MAX]] {{.*}} into tensor<4x1xf32>
// CHECK-NEXT: tensor.empty()
// CHECK-NEXT: %[[EXP:.*]] = linalg.generic {{.*}} ins(%[[X]], %[[MAX_COL]] : tensor<4x64xf32>, tensor<4x1xf32>) outs(%{{.*}} : tensor<4x64xf32>) attrs =  {aidjit.row_group = 0 : i64} {
// CHECK-NEXT: ^
// CHECK-NEXT: arith.subf
// CHECK-NEXT: math.exp
// CHECK-NEXT: linalg.yield
// CHECK-NEXT: }
// CHECK-NOT: linalg.{{(fill|generic)((?!aidjit.row_group = 0 ).)*\n}}
// CHECK: %[[SUM_INIT:.*]] = linalg.fill {aidjit.row_group = 0 : i64} ins(%{{.*}} : f32) outs(%{{.*}} : tensor<4xf32>)
// CHECK-NEXT: %[[ES:.*]] = tensor.expand_shape %[[EXP]] {{.*}} into tensor<4x4x16xf32>
// CHECK-NOT: linalg.{{(fill|generic)((?!aidjit.row_group = 0 ).)*\n}}
// CHECK: %[[SUM_LANES:.*]] = linalg.fill {aidjit.row_group = 0 : i64} ins(%{{.*}} : f32) outs(%{{.*}} : tensor<4x16xf32>)
// CHECK-NEXT: %[[SUM_PART:.*]] = linalg.generic {{.*}} ins(%[[ES]] : tensor<4x4x16xf32>) outs(%[[SUM_LANES]] : tensor<4x16xf32>) attrs =  {aidjit.row_group = 0 : i64} {
// CHECK-NEXT: ^
// CHECK-NEXT: arith.addf
// CHECK-NEXT: linalg.yield
// CHECK-NEXT: }
// CHECK-NEXT: %[[SUM:.*]] = linalg.generic {{.*}} ins(%[[SUM_PART]] : tensor<4x16xf32>) outs(%[[SUM_INIT]] : tensor<4xf32>) attrs =  {aidjit.row_group = 0 : i64} {
// CHECK-NEXT: ^
// CHECK-NEXT: arith.addf
// CHECK-NEXT: linalg.yield
// CHECK-NEXT: }
// CHECK-NEXT: %[[SUM_COL:.*]] = tensor.expand_shape %[[SUM]] {{.*}} into tensor<4x1xf32>
// CHECK-NEXT: tensor.empty()
// CHECK-NEXT: %[[DIV:.*]] = linalg.generic {{.*}} ins(%[[EXP]], %[[SUM_COL]] : tensor<4x64xf32>, tensor<4x1xf32>) outs(%{{.*}} : tensor<4x64xf32>) attrs =  {aidjit.row_group = 0 : i64} {
// CHECK-NEXT: ^
// CHECK-NEXT: arith.divf
// CHECK-NEXT: linalg.yield
// CHECK-NEXT: }
// CHECK-NEXT: func.return %[[DIV]]
func.func @softmax(%x: tensor<4x64xf32>) -> tensor<4x64xf32> {
  %0 = graph.reduce_max %x {axes = array<i64: 1>, keepdims} : tensor<4x64xf32> -> tensor<4x1xf32>
  %1 = graph.subtract %x, %0 : tensor<4x64xf32>, tensor<4x1xf32> -> tensor<4x64xf32>
  %2 = graph.exp %1 : tensor<4x64xf32>
  %3 = graph.sum %2 {axes = array<i64: 1>, keepdims} : tensor<4x64xf32> -> tensor<4x1xf32>
  %4 = graph.divide %2, %3 : tensor<4x64xf32>, tensor<4x1xf32> -> tensor<4x64xf32>
  func.return %4 : tensor<4x64xf32>
}

// -----

// layer_norm with weight and bias: the mean (split sum, then / 64 on a rank-1 row vector),
// the variance (x - mean squared fused into its split sum as a prologue, / 64), sqrt(var +
// eps) on the 4x1 column and the normalisation epilogue: twelve ops, all in row group 0. The
// rank-1 `/ 64` generics have the row dim as their only dim, and the weight and bias, read by
// column only, are not group values, so neither keeps an op out.
// CHECK-LABEL: func.func @layer_norm
// CHECK-SAME: (%[[X:.*]]: tensor<4x64xf32>, %[[W:.*]]: tensor<64xf32>, %[[B:.*]]: tensor<64xf32>)
// CHECK: linalg.fill {aidjit.row_group = 0 : i64} ins(%{{.*}} : f32) outs(%{{.*}} : tensor<4xf32>)
// CHECK-NOT: linalg.{{(fill|generic)((?!aidjit.row_group = 0 ).)*\n}}
// CHECK: linalg.fill {aidjit.row_group = 0 : i64} ins(%{{.*}} : f32) outs(%{{.*}} : tensor<4x16xf32>)
// CHECK-NEXT: linalg.generic {{.*}} iterator_types = ["parallel", "reduction", "parallel"]} {{.*}} attrs =  {aidjit.row_group = 0 : i64} {
// CHECK-NOT: linalg.{{(fill|generic)((?!aidjit.row_group = 0 ).)*\n}}
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]} {{.*}} attrs =  {aidjit.row_group = 0 : i64} {
// CHECK-NOT: linalg.{{(fill|generic)((?!aidjit.row_group = 0 ).)*\n}}
// CHECK: %[[MEAN:.*]] = linalg.generic {{.*}} iterator_types = ["parallel"]} ins(%{{.*}} : tensor<4xf32>) outs(%{{.*}} : tensor<4xf32>) attrs =  {aidjit.row_group = 0 : i64} {
// CHECK: arith.divf
// CHECK: %[[MEAN_COL:.*]] = tensor.expand_shape %[[MEAN]] {{.*}} into tensor<4x1xf32>
// CHECK-NOT: linalg.{{(fill|generic)((?!aidjit.row_group = 0 ).)*\n}}
// CHECK: linalg.fill {aidjit.row_group = 0 : i64} ins(%{{.*}} : f32) outs(%{{.*}} : tensor<4xf32>)
// CHECK-NOT: linalg.{{(fill|generic)((?!aidjit.row_group = 0 ).)*\n}}
// CHECK: linalg.fill {aidjit.row_group = 0 : i64} ins(%{{.*}} : f32) outs(%{{.*}} : tensor<4x16xf32>)
// CHECK-NEXT: linalg.generic {{.*}} iterator_types = ["parallel", "reduction", "parallel"]} ins(%{{.*}}, %[[MEAN_COL]] : tensor<4x4x16xf32>, tensor<4x1xf32>) {{.*}} attrs =  {aidjit.row_group = 0 : i64} {
// CHECK-NEXT: ^
// CHECK-NEXT: arith.subf
// CHECK-NEXT: arith.mulf
// CHECK-NEXT: arith.addf
// CHECK-NEXT: linalg.yield
// CHECK-NEXT: }
// CHECK-NEXT: linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]} {{.*}} attrs =  {aidjit.row_group = 0 : i64} {
// CHECK-NOT: linalg.{{(fill|generic)((?!aidjit.row_group = 0 ).)*\n}}
// CHECK: %[[VAR:.*]] = linalg.generic {{.*}} iterator_types = ["parallel"]} ins(%{{.*}} : tensor<4xf32>) outs(%{{.*}} : tensor<4xf32>) attrs =  {aidjit.row_group = 0 : i64} {
// CHECK: %[[VAR_COL:.*]] = tensor.expand_shape %[[VAR]] {{.*}} into tensor<4x1xf32>
// CHECK-NEXT: tensor.empty()
// CHECK-NEXT: %[[STD:.*]] = linalg.generic {{.*}} ins(%[[VAR_COL]] : tensor<4x1xf32>) outs(%{{.*}} : tensor<4x1xf32>) attrs =  {aidjit.row_group = 0 : i64} {
// CHECK: math.sqrt
// CHECK: tensor.empty()
// CHECK-NEXT: %[[OUT:.*]] = linalg.generic {{.*}} ins(%[[X]], %[[MEAN_COL]], %[[STD]], %[[W]], %[[B]] : {{.*}}) outs(%{{.*}} : tensor<4x64xf32>) attrs =  {aidjit.row_group = 0 : i64} {
// CHECK: func.return %[[OUT]]
func.func @layer_norm(%x: tensor<4x64xf32>, %w: tensor<64xf32>, %b: tensor<64xf32>) -> tensor<4x64xf32> {
  %0 = graph.mean %x {axes = array<i64: 1>, keepdims} : tensor<4x64xf32> -> tensor<4x1xf32>
  %1 = graph.subtract %x, %0 : tensor<4x64xf32>, tensor<4x1xf32> -> tensor<4x64xf32>
  %2 = graph.multiply %1, %1 : tensor<4x64xf32>, tensor<4x64xf32> -> tensor<4x64xf32>
  %3 = graph.mean %2 {axes = array<i64: 1>, keepdims} : tensor<4x64xf32> -> tensor<4x1xf32>
  %c = graph.constant dense<1.0e-05> : tensor<f32>
  %4 = graph.add %3, %c : tensor<4x1xf32>, tensor<f32> -> tensor<4x1xf32>
  %5 = graph.sqrt %4 : tensor<4x1xf32>
  %6 = graph.divide %1, %5 : tensor<4x64xf32>, tensor<4x1xf32> -> tensor<4x64xf32>
  %7 = graph.multiply %6, %w : tensor<4x64xf32>, tensor<64xf32> -> tensor<4x64xf32>
  %8 = graph.add %7, %b : tensor<4x64xf32>, tensor<64xf32> -> tensor<4x64xf32>
  func.return %8 : tensor<4x64xf32>
}

// -----

// matmul + bias + relu: the contraction's loops are (row, k, column), its first dim parallel
// and its output indexed (d0, d2), so iteration i writes row i of the product; the epilogue
// (bias and relu, fused into one generic) reads that row and joins: the zero fill, the matmul
// and the epilogue are row group 0.
// CHECK-LABEL: func.func @linear_relu
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf32>, %[[W:.*]]: tensor<8x16xf32>, %[[B:.*]]: tensor<16xf32>)
// CHECK: %[[ZERO:.*]] = linalg.fill {aidjit.row_group = 0 : i64} ins(%{{.*}} : f32) outs(%{{.*}} : tensor<4x16xf32>)
// CHECK-NEXT: %[[MM:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d2)>], iterator_types = ["parallel", "reduction", "parallel"]} ins(%[[X]], %[[W]] : tensor<4x8xf32>, tensor<8x16xf32>) outs(%[[ZERO]] : tensor<4x16xf32>) attrs =  {aidjit.row_group = 0 : i64} {
// CHECK: math.fma
// CHECK: tensor.empty()
// CHECK-NEXT: %[[RELU:.*]] = linalg.generic {{.*}} ins(%[[MM]], %[[B]] : tensor<4x16xf32>, tensor<16xf32>) outs(%{{.*}} : tensor<4x16xf32>) attrs =  {aidjit.row_group = 0 : i64} {
// CHECK: arith.maximumf
// CHECK: func.return %[[RELU]]
func.func @linear_relu(%x: tensor<4x8xf32>, %w: tensor<8x16xf32>, %b: tensor<16xf32>) -> tensor<4x16xf32> {
  %0 = graph.matmul %x, %w : tensor<4x8xf32>, tensor<8x16xf32> -> tensor<4x16xf32>
  %1 = graph.add %0, %b : tensor<4x16xf32>, tensor<16xf32> -> tensor<4x16xf32>
  %2 = graph.relu %1 : tensor<4x16xf32>
  func.return %2 : tensor<4x16xf32>
}

// -----

// Negative: exp(x - max) is returned and also transposed (exp is not duplicated into the
// transpose). The transpose reads the group's value with (d1, d0): iteration i needs column i,
// which the row loop has not finished, so it does not join; alone, it gets no mark.
// CHECK-LABEL: func.func @through_transpose
// CHECK: linalg.fill {aidjit.row_group = 0 : i64}
// CHECK: linalg.generic {{.*}} attrs =  {aidjit.row_group = 0 : i64} {
// CHECK: arith.maximumf
// CHECK: %[[EXP:.*]] = linalg.generic {{.*}} attrs =  {aidjit.row_group = 0 : i64} {
// CHECK: math.exp
// CHECK: %[[T:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d1, d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%[[EXP]] : tensor<4x4xf32>) outs(%{{.*}} : tensor<4x4xf32>) {
// CHECK: func.return %[[EXP]], %[[T]]
func.func @through_transpose(%x: tensor<4x4xf32>) -> (tensor<4x4xf32>, tensor<4x4xf32>) {
  %0 = graph.reduce_max %x {axes = array<i64: 1>, keepdims} : tensor<4x4xf32> -> tensor<4x1xf32>
  %1 = graph.subtract %x, %0 : tensor<4x4xf32>, tensor<4x1xf32> -> tensor<4x4xf32>
  %2 = graph.exp %1 : tensor<4x4xf32>
  %3 = graph.transpose %2 {perm = array<i64: 1, 0>} : tensor<4x4xf32> -> tensor<4x4xf32>
  %4 = graph.exp %3 : tensor<4x4xf32>
  func.return %2, %4 : tensor<4x4xf32>, tensor<4x4xf32>
}

// -----

// Negative: a column sum of exp(x - max) has reduction as its first loop dim (it needs every
// row before it is done), so it does not join the row group; its fill, of extent 8 where the
// group's is 4, does not join either, and the two make no group of their own.
// CHECK-LABEL: func.func @column_sum
// CHECK: linalg.fill {aidjit.row_group = 0 : i64}
// CHECK: linalg.generic {{.*}} attrs =  {aidjit.row_group = 0 : i64} {
// CHECK: %[[EXP:.*]] = linalg.generic {{.*}} attrs =  {aidjit.row_group = 0 : i64} {
// CHECK: %[[ZERO:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<8xf32>) -> tensor<8xf32>
// CHECK-NEXT: %[[COLS:.*]] = linalg.generic {{.*}} iterator_types = ["reduction", "parallel"]} ins(%[[EXP]] : tensor<4x8xf32>) outs(%[[ZERO]] : tensor<8xf32>) {
// CHECK: func.return %[[EXP]], %[[COLS]]
func.func @column_sum(%x: tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<8xf32>) {
  %0 = graph.reduce_max %x {axes = array<i64: 1>, keepdims} : tensor<4x8xf32> -> tensor<4x1xf32>
  %1 = graph.subtract %x, %0 : tensor<4x8xf32>, tensor<4x1xf32> -> tensor<4x8xf32>
  %2 = graph.exp %1 : tensor<4x8xf32>
  %3 = graph.sum %2 {axes = array<i64: 0>} : tensor<4x8xf32> -> tensor<8xf32>
  func.return %2, %3 : tensor<4x8xf32>, tensor<8xf32>
}

// -----

// Negative: an elementwise chain fuses into one generic, a group of one op: no mark (it is a
// loop nest on its own already).
// CHECK-LABEL: func.func @alone
// CHECK-NOT: aidjit.row_group
// CHECK: func.return
func.func @alone(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %0 = graph.exp %x : tensor<4x8xf32>
  %1 = graph.tanh %0 : tensor<4x8xf32>
  func.return %1 : tensor<4x8xf32>
}

// -----

// Two row groups in one function: rows of 4 (max of x, x - max) and rows of 8 (max of y,
// sqrt): the second starts where the extent changes and is numbered 1. 24 is no multiple of
// 16, so the reductions are not split.
// CHECK-LABEL: func.func @two_extents
// CHECK-SAME: (%[[X:.*]]: tensor<4x24xf32>, %[[Y:.*]]: tensor<8x24xf32>)
// CHECK: linalg.fill {aidjit.row_group = 0 : i64} ins(%{{.*}} : f32) outs(%{{.*}} : tensor<4xf32>)
// CHECK-NEXT: linalg.generic {{.*}} ins(%[[X]] : tensor<4x24xf32>) outs(%{{.*}} : tensor<4xf32>) attrs =  {aidjit.row_group = 0 : i64} {
// CHECK: %[[SHIFTED:.*]] = linalg.generic {{.*}} ins(%[[X]], %{{.*}} : tensor<4x24xf32>, tensor<4x1xf32>) outs(%{{.*}} : tensor<4x24xf32>) attrs =  {aidjit.row_group = 0 : i64} {
// CHECK: linalg.fill {aidjit.row_group = 1 : i64} ins(%{{.*}} : f32) outs(%{{.*}} : tensor<8xf32>)
// CHECK-NEXT: linalg.generic {{.*}} ins(%[[Y]] : tensor<8x24xf32>) outs(%{{.*}} : tensor<8xf32>) attrs =  {aidjit.row_group = 1 : i64} {
// CHECK: %[[ROOT:.*]] = linalg.generic {{.*}} ins(%{{.*}} : tensor<8x1xf32>) outs(%{{.*}} : tensor<8x1xf32>) attrs =  {aidjit.row_group = 1 : i64} {
// CHECK-NEXT: ^
// CHECK-NEXT: math.sqrt
// CHECK: func.return %[[SHIFTED]], %[[ROOT]]
func.func @two_extents(%x: tensor<4x24xf32>, %y: tensor<8x24xf32>) -> (tensor<4x24xf32>, tensor<8x1xf32>) {
  %0 = graph.reduce_max %x {axes = array<i64: 1>, keepdims} : tensor<4x24xf32> -> tensor<4x1xf32>
  %1 = graph.subtract %x, %0 : tensor<4x24xf32>, tensor<4x1xf32> -> tensor<4x24xf32>
  %2 = graph.reduce_max %y {axes = array<i64: 1>, keepdims} : tensor<8x24xf32> -> tensor<8x1xf32>
  %3 = graph.sqrt %2 : tensor<8x1xf32>
  func.return %1, %3 : tensor<4x24xf32>, tensor<8x1xf32>
}
