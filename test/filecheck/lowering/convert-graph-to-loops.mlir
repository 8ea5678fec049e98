// RUN: aidjit-opt %s --split-input-file -p convert-graph-to-loops | filecheck %s

// Elementwise: one loop nest over the result; a broadcast operand is indexed by the
// trailing induction variables only; the result is stored straight into the output buffer.
// CHECK-LABEL: func.func @elementwise
// CHECK-SAME: (%[[X:.*]]: memref<4x3xf32>, %[[B:.*]]: memref<3xf32>, %[[OUT:.*]]: memref<4x3xf32>)
// CHECK-NOT: memref.alloc
// CHECK: scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step
// CHECK-NEXT: scf.for %[[J:.*]] = %{{.*}} to %{{.*}} step
// CHECK-NEXT: %[[A:.*]] = memref.load %[[X]][%[[I]], %[[J]]] : memref<4x3xf32>
// CHECK-NEXT: %[[V:.*]] = memref.load %[[B]][%[[J]]] : memref<3xf32>
// CHECK-NEXT: %[[S:.*]] = arith.addf %[[A]], %[[V]] : f32
// CHECK-NEXT: memref.store %[[S]], %[[OUT]][%[[I]], %[[J]]] : memref<4x3xf32>
// CHECK: func.return
func.func @elementwise(%x: tensor<4x3xf32>, %b: tensor<3xf32>) -> tensor<4x3xf32> {
  %0 = graph.add %x, %b : tensor<4x3xf32>, tensor<3xf32> -> tensor<4x3xf32>
  func.return %0 : tensor<4x3xf32>
}

// -----

// Intermediates are allocated, and freed right after their last use; splat constants
// become scalar arith.constants instead of buffers.
// CHECK-LABEL: func.func @intermediates
// CHECK: %[[TWO:.*]] = arith.constant 2.000000e+00 : f64
// CHECK: %[[T:.*]] = memref.alloc() {alignment = 64 : i64} : memref<8xf64>
// CHECK: arith.mulf %{{.*}}, %[[TWO]] : f64
// CHECK: math.exp
// CHECK: memref.dealloc %[[T]] : memref<8xf64>
// CHECK-NEXT: func.return
func.func @intermediates(%x: tensor<8xf64>) -> tensor<8xf64> {
  %c = graph.constant dense<2.0> : tensor<f64>
  %0 = graph.multiply %x, %c : tensor<8xf64>, tensor<f64> -> tensor<8xf64>
  %1 = graph.exp %0 : tensor<8xf64>
  func.return %1 : tensor<8xf64>
}

// -----

// Scalar bodies of the ops that are more than one arith/math op.
// CHECK-LABEL: func.func @scalar_bodies
// CHECK: arith.maximumf %{{.*}}, %{{.*}} : f32
// CHECK: math.tanh
// CHECK: arith.cmpf ogt
// CHECK-NEXT: arith.select
// CHECK: math.powf
func.func @scalar_bodies(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) {
  %0 = graph.relu %x : tensor<4xf32>
  %1 = graph.sigmoid %x : tensor<4xf32>
  %2 = graph.greater %x, %0 : tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>
  %3 = graph.power %x, %1 : tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>
  func.return %0, %1, %2, %3 : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
}

// -----

// Reductions: fill with the initial value, accumulate over the input in row-major order into
// the output (index 0 on a kept axis), then divide by the count for mean.
// CHECK-LABEL: func.func @mean_keepdims
// CHECK-SAME: (%[[X:.*]]: memref<4x3xf32>, %[[OUT:.*]]: memref<4x1xf32>)
// CHECK-DAG: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[COUNT:.*]] = arith.constant 3.000000e+00 : f32
// CHECK: memref.store %[[ZERO]], %[[OUT]]
// CHECK: scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step
// CHECK-NEXT: scf.for %[[J:.*]] = %{{.*}} to %{{.*}} step
// CHECK-NEXT: %[[ACC:.*]] = memref.load %[[OUT]][%[[I]], %[[C0]]]
// CHECK-NEXT: %[[V:.*]] = memref.load %[[X]][%[[I]], %[[J]]]
// CHECK-NEXT: %[[S:.*]] = arith.addf %[[ACC]], %[[V]] : f32
// CHECK-NEXT: memref.store %[[S]], %[[OUT]][%[[I]], %[[C0]]]
// CHECK: arith.divf %{{.*}}, %[[COUNT]] : f32
func.func @mean_keepdims(%x: tensor<4x3xf32>) -> tensor<4x1xf32> {
  %0 = graph.mean %x {axes = array<i64: 1>, keepdims} : tensor<4x3xf32> -> tensor<4x1xf32>
  func.return %0 : tensor<4x1xf32>
}

// -----

// reduce_max starts from -inf and combines with the nan-propagating arith.maximumf.
// CHECK-LABEL: func.func @reduce_max
// CHECK: %[[NEGINF:.*]] = arith.constant 0xff800000 : f32
// CHECK: memref.store %[[NEGINF]]
// CHECK: arith.maximumf
func.func @reduce_max(%x: tensor<4x3xf32>) -> tensor<3xf32> {
  %0 = graph.reduce_max %x {axes = array<i64: 0>} : tensor<4x3xf32> -> tensor<3xf32>
  func.return %0 : tensor<3xf32>
}

// -----

// Matmul: zero fill, then i, k, j with j innermost (stride 1 in both B and C); each step is an
// explicit math.fma (the C is built without contraction: only the IR asks for fusion).
// CHECK-LABEL: func.func @matmul
// CHECK-SAME: (%[[A:.*]]: memref<2x3xf32>, %[[B:.*]]: memref<3x5xf32>, %[[C:.*]]: memref<2x5xf32>)
// CHECK: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: memref.store %[[ZERO]], %[[C]]
// CHECK: scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step
// CHECK-NEXT: scf.for %[[K:.*]] = %{{.*}} to %{{.*}} step
// CHECK-NEXT: scf.for %[[J:.*]] = %{{.*}} to %{{.*}} step
// CHECK-NEXT: %[[AV:.*]] = memref.load %[[A]][%[[I]], %[[K]]]
// CHECK-NEXT: %[[BV:.*]] = memref.load %[[B]][%[[K]], %[[J]]]
// CHECK-NEXT: %[[CV:.*]] = memref.load %[[C]][%[[I]], %[[J]]]
// CHECK-NEXT: %[[S:.*]] = math.fma %[[AV]], %[[BV]], %[[CV]] : f32
// CHECK-NEXT: memref.store %[[S]], %[[C]][%[[I]], %[[J]]]
func.func @matmul(%a: tensor<2x3xf32>, %b: tensor<3x5xf32>) -> tensor<2x5xf32> {
  %0 = graph.matmul %a, %b : tensor<2x3xf32>, tensor<3x5xf32> -> tensor<2x5xf32>
  func.return %0 : tensor<2x5xf32>
}

// -----

// A shared right operand (3-D @ 2-D) is indexed without the batch variable.
// CHECK-LABEL: func.func @matmul_shared_rhs
// CHECK: memref.store
// CHECK: scf.for %[[BATCH:.*]] = %{{.*}} to %{{.*}} step
// CHECK: memref.load %{{.*}}[%[[BATCH]], %{{.*}}, %{{.*}}] : memref<2x3x4xf32>
// CHECK-NEXT: memref.load %{{.*}}[%{{.*}}, %{{.*}}] : memref<4x5xf32>
func.func @matmul_shared_rhs(%a: tensor<2x3x4xf32>, %b: tensor<4x5xf32>) -> tensor<2x3x5xf32> {
  %0 = graph.matmul %a, %b : tensor<2x3x4xf32>, tensor<4x5xf32> -> tensor<2x3x5xf32>
  func.return %0 : tensor<2x3x5xf32>
}

// -----

// Layout ops copy through an index map: transpose swaps the induction variables.
// CHECK-LABEL: func.func @transpose
// CHECK: scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step
// CHECK-NEXT: scf.for %[[J:.*]] = %{{.*}} to %{{.*}} step
// CHECK-NEXT: %[[V:.*]] = memref.load %{{.*}}[%[[J]], %[[I]]] : memref<4x3xf32>
// CHECK-NEXT: memref.store %[[V]], %{{.*}}[%[[I]], %[[J]]] : memref<3x4xf32>
func.func @transpose(%x: tensor<4x3xf32>) -> tensor<3x4xf32> {
  %0 = graph.transpose %x {perm = array<i64: 1, 0>} : tensor<4x3xf32> -> tensor<3x4xf32>
  func.return %0 : tensor<3x4xf32>
}

// -----

// reshape linearises the output position and splits it by the input's shape.
// CHECK-LABEL: func.func @reshape
// CHECK: arith.muli
// CHECK: arith.addi
// CHECK: arith.divui
// CHECK: arith.remui
// CHECK: memref.load %{{.*}} : memref<2x6xf32>
func.func @reshape(%x: tensor<2x6xf32>) -> tensor<3x4xf32> {
  %0 = graph.reshape %x : tensor<2x6xf32> -> tensor<3x4xf32>
  func.return %0 : tensor<3x4xf32>
}

// -----

// one_hot compares each label, cast to index, with the class induction variable.
// CHECK-LABEL: func.func @one_hot
// CHECK: %[[L:.*]] = memref.load %{{.*}} : memref<5xi64>
// CHECK-NEXT: %[[IDX:.*]] = arith.index_cast %[[L]] : i64 to index
// CHECK-NEXT: %[[EQ:.*]] = arith.cmpi eq, %[[IDX]], %{{.*}} : index
// CHECK-NEXT: arith.select %[[EQ]]
func.func @one_hot(%y: tensor<5xi64>) -> tensor<5x4xf32> {
  %0 = graph.one_hot %y : tensor<5xi64> -> tensor<5x4xf32>
  func.return %0 : tensor<5x4xf32>
}

// -----

// A non-splat constant becomes a private constant memref.global; returning an argument or
// returning one value twice copies into the output buffers.
// xDSL prints memref.global in the generic form, which upstream mlir-opt parses too.
// CHECK: "memref.global"() <{sym_name = "constants_cst0", type = memref<3xf32>, initial_value = dense<[1.000000e+00, 2.000000e+00, 3.000000e+00]> : tensor<3xf32>, sym_visibility = "private", constant
// CHECK-LABEL: func.func @constants
// CHECK-SAME: (%[[X:.*]]: memref<3xf32>, %[[O0:.*]]: memref<3xf32>, %[[O1:.*]]: memref<3xf32>, %[[O2:.*]]: memref<3xf32>)
// CHECK: %[[G:.*]] = memref.get_global @constants_cst0 : memref<3xf32>
// CHECK: memref.load %[[G]]
// CHECK: memref.store %{{.*}}, %[[O0]]
// CHECK: %[[P:.*]] = memref.load %[[O0]]
// CHECK-NEXT: memref.store %[[P]], %[[O1]]
// CHECK: %[[Q:.*]] = memref.load %[[X]]
// CHECK-NEXT: memref.store %[[Q]], %[[O2]]
func.func @constants(%x: tensor<3xf32>) -> (tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) {
  %c = graph.constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
  %0 = graph.multiply %x, %c : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
  func.return %0, %0, %x : tensor<3xf32>, tensor<3xf32>, tensor<3xf32>
}

// -----

// A constant holding both zeros is no splat (splats are found by bits, not by ==): it stays
// a global with each zero's sign.
// CHECK: "memref.global"() <{sym_name = "signed_zeros_cst0", type = memref<3xf32>, initial_value = dense<[-0.000000e+00, 0.000000e+00, 0.000000e+00]> : tensor<3xf32>
// CHECK-LABEL: func.func @signed_zeros
// CHECK: %[[G:.*]] = memref.get_global @signed_zeros_cst0 : memref<3xf32>
// CHECK: %[[Z:.*]] = memref.load %[[G]]
// CHECK: arith.divf %{{.*}}, %[[Z]] : f32
func.func @signed_zeros(%x: tensor<3xf32>) -> tensor<3xf32> {
  %c = graph.constant dense<[-0.0, 0.0, 0.0]> : tensor<3xf32>
  %0 = graph.divide %x, %c : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
  func.return %0 : tensor<3xf32>
}

// -----

// Splats keep their element type: an i64 splat is an integer arith.constant, here stored into
// its output and, as one_hot's labels, cast to an index.
// CHECK-LABEL: func.func @integer_splats
// CHECK-SAME: (%{{.*}}: memref<3xf32>, %[[O0:.*]]: memref<3x4xf32>, %[[O1:.*]]: memref<3xi64>)
// CHECK-DAG: %[[SEVEN:.*]] = arith.constant 7 : i64
// CHECK-DAG: %[[TWO:.*]] = arith.constant 2 : i64
// CHECK: arith.index_cast %[[TWO]] : i64 to index
// CHECK: memref.store %{{.*}}, %[[O0]]
// CHECK: memref.store %[[SEVEN]], %[[O1]][%{{.*}}] : memref<3xi64>
func.func @integer_splats(%x: tensor<3xf32>) -> (tensor<3x4xf32>, tensor<3xi64>) {
  %labels = graph.constant dense<2> : tensor<3xi64>
  %sevens = graph.constant dense<7> : tensor<3xi64>
  %0 = graph.one_hot %labels : tensor<3xi64> -> tensor<3x4xf32>
  func.return %0, %sevens : tensor<3x4xf32>, tensor<3xi64>
}

// -----

// A layout op of a splat stays a splat (no loop of its own), yet the output it is returned
// in is filled, as is the second output it is returned in.
// CHECK-LABEL: func.func @returned_layout_of_splat
// CHECK-SAME: (%{{.*}}: memref<3xf32>, %[[O0:.*]]: memref<2x3xf32>, %[[O1:.*]]: memref<2x3xf32>)
// CHECK: %[[V:.*]] = arith.constant 1.500000e+00 : f32
// CHECK-NOT: memref.alloc
// CHECK: memref.store %[[V]], %[[O0]][%{{.*}}, %{{.*}}] : memref<2x3xf32>
// CHECK: memref.store %[[V]], %[[O1]][%{{.*}}, %{{.*}}] : memref<2x3xf32>
// CHECK: func.return
func.func @returned_layout_of_splat(%x: tensor<3xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>) {
  %c = graph.constant dense<1.5> : tensor<3xf32>
  %b = graph.broadcast_to %c : tensor<3xf32> -> tensor<2x3xf32>
  func.return %b, %b : tensor<2x3xf32>, tensor<2x3xf32>
}

// -----

// Masks are selects of 1 and 0; where selects per element on `condition != 0` (a float mask
// compares unordered, so NaN counts as true, as in numpy; an int64 condition with cmpi).
// CHECK-LABEL: func.func @masks_and_select
// CHECK-SAME: (%[[X:.*]]: memref<4xf32>, %[[Y:.*]]: memref<4xf32>, %[[C:.*]]: memref<4xi64>, %[[OUT0:.*]]: memref<4xf32>, %[[OUT1:.*]]: memref<4xf32>)
// CHECK: %[[NE:.*]] = arith.cmpf une, %{{.*}}, %{{.*}} : f32
// CHECK-NEXT: arith.select %[[NE]], %{{.*}}, %{{.*}} : f32
// CHECK: %[[M:.*]] = memref.load %{{.*}} : memref<4xf32>
// CHECK-NEXT: %[[A:.*]] = memref.load %[[X]]
// CHECK-NEXT: %[[B:.*]] = memref.load %[[Y]]
// CHECK-NEXT: %[[T:.*]] = arith.cmpf une, %[[M]], %{{.*}} : f32
// CHECK-NEXT: %[[S:.*]] = arith.select %[[T]], %[[A]], %[[B]] : f32
// CHECK-NEXT: memref.store %[[S]], %[[OUT0]]
// CHECK: %[[L:.*]] = memref.load %[[C]]
// CHECK: %[[TI:.*]] = arith.cmpi ne, %[[L]], %{{.*}} : i64
// CHECK-NEXT: %[[SI:.*]] = arith.select %[[TI]], %{{.*}}, %{{.*}} : f32
// CHECK-NEXT: memref.store %[[SI]], %[[OUT1]]
func.func @masks_and_select(%x: tensor<4xf32>, %y: tensor<4xf32>, %c: tensor<4xi64>) -> (tensor<4xf32>, tensor<4xf32>) {
  %0 = graph.not_equal %x, %y : tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>
  %1 = graph.where %0, %x, %y : tensor<4xf32>, tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>
  %2 = graph.where %c, %x, %y : tensor<4xi64>, tensor<4xf32>, tensor<4xf32> -> tensor<4xf32>
  func.return %1, %2 : tensor<4xf32>, tensor<4xf32>
}

// -----

// astype is one arith cast per element: truncf, fptosi (toward zero, as numpy), sitofp.
// CHECK-LABEL: func.func @casts
// CHECK: arith.truncf %{{.*}} : f64 to f32
// CHECK: arith.fptosi %{{.*}} : f64 to i64
// CHECK: arith.sitofp %{{.*}} : i64 to f64
func.func @casts(%x: tensor<4xf64>) -> (tensor<4xf32>, tensor<4xi64>, tensor<4xf64>) {
  %0 = graph.astype %x : tensor<4xf64> -> tensor<4xf32>
  %1 = graph.astype %x : tensor<4xf64> -> tensor<4xi64>
  %2 = graph.astype %1 : tensor<4xi64> -> tensor<4xf64>
  func.return %0, %1, %2 : tensor<4xf32>, tensor<4xi64>, tensor<4xf64>
}

// -----

// slice reads through the index map start + i * stride (a negative stride walks backwards);
// pad fills the result with zeros, then stores each element at low + i * (interior + 1).
// CHECK-LABEL: func.func @slice_and_pad
// CHECK-DAG: %[[TWO:.*]] = arith.constant 2 : index
// CHECK-DAG: %[[ONE:.*]] = arith.constant 1 : index
// CHECK-DAG: %[[THREE:.*]] = arith.constant 3 : index
// CHECK-DAG: %[[MINUS2:.*]] = arith.constant -2 : index
// CHECK-DAG: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[S:.*]] = memref.alloc() {alignment = 64 : i64} : memref<2x3xf32>
// CHECK: %[[R0:.*]] = arith.muli %[[I:.*]], %[[MINUS2]] : index
// CHECK-NEXT: %[[ROW:.*]] = arith.addi %[[R0]], %[[THREE]] : index
// CHECK-NEXT: %[[C0:.*]] = arith.muli %[[J:.*]], %[[TWO]] : index
// CHECK-NEXT: %[[COL:.*]] = arith.addi %[[C0]], %[[ONE]] : index
// CHECK-NEXT: %[[V:.*]] = memref.load %{{.*}}[%[[ROW]], %[[COL]]] : memref<4x6xf32>
// CHECK-NEXT: memref.store %[[V]], %[[S]][%[[I]], %[[J]]] : memref<2x3xf32>
// CHECK: memref.store %[[ZERO]], %[[OUT:.*]][%{{.*}}, %{{.*}}] : memref<5x8xf32>
// CHECK: %[[PROW:.*]] = arith.addi %[[PI:.*]], %[[ONE]] : index
// CHECK-NEXT: %[[PCOL:.*]] = arith.muli %[[PJ:.*]], %[[THREE]] : index
// CHECK-NEXT: %[[P:.*]] = memref.load %[[S]][%[[PI]], %[[PJ]]] : memref<2x3xf32>
// CHECK-NEXT: memref.store %[[P]], %[[OUT]][%[[PROW]], %[[PCOL]]] : memref<5x8xf32>
// CHECK: memref.dealloc %[[S]]
func.func @slice_and_pad(%x: tensor<4x6xf32>) -> tensor<5x8xf32> {
  %0 = graph.slice %x {start = array<i64: 3, 1>, strides = array<i64: -2, 2>} : tensor<4x6xf32> -> tensor<2x3xf32>
  %1 = graph.pad %0 {low = array<i64: 1, 0>, high = array<i64: 2, 1>, interior = array<i64: 0, 2>} : tensor<2x3xf32> -> tensor<5x8xf32>
  func.return %1 : tensor<5x8xf32>
}
