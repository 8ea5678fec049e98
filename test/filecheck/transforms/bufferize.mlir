// RUN: aidjit-opt %s --split-input-file -p convert-graph-to-linalg,bufferize | filecheck %s
// RUN: aidjit-opt %s --split-input-file -p 'convert-graph-to-linalg,bufferize{reuse=false}' | filecheck %s --check-prefix=NOREUSE

// Graph-level inputs are lowered first (one generic per graph op, no fusion, so there are
// temporaries to place); the CHECK lines show where bufferize put each value.

// The signature: tensors become memrefs, one output buffer per result is appended, then the
// workspace holding every temporary; nothing is returned. The negation writes over the
// exponential it reads, which dies there (in place: no second view), and the last generic
// computes the returned value straight into %out0 (no copy).
// CHECK-LABEL: func.func @chain
// CHECK-SAME: (%[[X:.*]]: memref<64xf32>, %[[OUT:.*]]: memref<64xf32>, %[[WS:.*]]: memref<256xi8>)
// CHECK-SAME: attributes {aidjit.bytes_without_reuse = 512 : i64}
// CHECK-NEXT: %[[C0:.*]] = arith.constant 0 : index
// CHECK-NEXT: %[[T:.*]] = memref.view %[[WS]][%[[C0]]][] : memref<256xi8> to memref<64xf32>
// CHECK-NOT: memref.view
// CHECK: linalg.generic {{.*}} ins(%[[X]] : memref<64xf32>) outs(%[[T]] : memref<64xf32>) {
// CHECK: math.exp
// CHECK: linalg.generic {{.*}} ins(%[[T]] : memref<64xf32>) outs(%[[T]] : memref<64xf32>) {
// CHECK: arith.negf
// CHECK: linalg.generic {{.*}} ins(%[[T]] : memref<64xf32>) outs(%[[OUT]] : memref<64xf32>) {
// CHECK: math.tanh
// CHECK: }
// CHECK-NEXT: func.return{{$}}

// Without reuse nothing is overwritten in place: the negation gets bytes of its own.
// NOREUSE-LABEL: func.func @chain
// NOREUSE-SAME: %{{.*}}: memref<512xi8>) attributes {aidjit.bytes_without_reuse = 512 : i64}
// NOREUSE: %[[T0:.*]] = memref.view %{{.*}}[%{{.*}}][] : memref<512xi8> to memref<64xf32>
// NOREUSE: %[[T1:.*]] = memref.view %{{.*}}[%{{.*}}][] : memref<512xi8> to memref<64xf32>
// NOREUSE: linalg.generic {{.*}} ins(%[[T0]] : memref<64xf32>) outs(%[[T1]] : memref<64xf32>)
func.func @chain(%x: tensor<64xf32>) -> tensor<64xf32> {
  %0 = graph.exp %x : tensor<64xf32>
  %1 = graph.negate %0 : tensor<64xf32>
  %2 = graph.tanh %1 : tensor<64xf32>
  func.return %2 : tensor<64xf32>
}

// -----

// Three 256-byte temporaries that cannot be updated in place (the transposes read them out of
// order): the first dies at the first transpose, so the third, made by the second transpose,
// takes its bytes (offset 0 twice); the workspace is 512 bytes where 768 were needed without
// reuse. With reuse=false each has its own offset.
// CHECK-LABEL: func.func @reuse
// CHECK-SAME: (%[[X:.*]]: memref<8x8xf32>, %[[OUT:.*]]: memref<8x8xf32>, %[[WS:.*]]: memref<512xi8>) attributes {aidjit.bytes_without_reuse = 768 : i64}
// CHECK-NEXT: %[[O0:.*]] = arith.constant 0 : index
// CHECK-NEXT: %[[A:.*]] = memref.view %[[WS]][%[[O0]]][] : memref<512xi8> to memref<8x8xf32>
// CHECK-NEXT: %[[O1:.*]] = arith.constant 256 : index
// CHECK-NEXT: %[[B:.*]] = memref.view %[[WS]][%[[O1]]][] : memref<512xi8> to memref<8x8xf32>
// CHECK-NEXT: %[[O2:.*]] = arith.constant 0 : index
// CHECK-NEXT: %[[C:.*]] = memref.view %[[WS]][%[[O2]]][] : memref<512xi8> to memref<8x8xf32>
// CHECK-NEXT: linalg.generic {{.*}} ins(%[[X]] : memref<8x8xf32>) outs(%[[A]] : memref<8x8xf32>)
// CHECK: linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d1, d0)>, {{.*}} ins(%[[A]] : memref<8x8xf32>) outs(%[[B]] : memref<8x8xf32>)
// CHECK: linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d1, d0)>, {{.*}} ins(%[[B]] : memref<8x8xf32>) outs(%[[C]] : memref<8x8xf32>)
// CHECK: linalg.generic {{.*}} ins(%[[C]] : memref<8x8xf32>) outs(%[[OUT]] : memref<8x8xf32>)

// NOREUSE-LABEL: func.func @reuse
// NOREUSE-SAME: (%{{.*}}: memref<8x8xf32>, %{{.*}}: memref<8x8xf32>, %[[WS:.*]]: memref<768xi8>) attributes {aidjit.bytes_without_reuse = 768 : i64}
// NOREUSE-NEXT: arith.constant 0 : index
// NOREUSE-NEXT: memref.view %[[WS]]
// NOREUSE-NEXT: arith.constant 256 : index
// NOREUSE-NEXT: memref.view %[[WS]]
// NOREUSE-NEXT: arith.constant 512 : index
// NOREUSE-NEXT: memref.view %[[WS]]
func.func @reuse(%x: tensor<8x8xf32>) -> tensor<8x8xf32> {
  %0 = graph.exp %x : tensor<8x8xf32>
  %1 = graph.transpose %0 {perm = array<i64: 1, 0>} : tensor<8x8xf32> -> tensor<8x8xf32>
  %2 = graph.transpose %1 {perm = array<i64: 1, 0>} : tensor<8x8xf32> -> tensor<8x8xf32>
  %3 = graph.exp %2 : tensor<8x8xf32>
  func.return %3 : tensor<8x8xf32>
}

// -----

// A returned argument is copied into its output buffer (a generic that only yields); a
// function without temporaries has no workspace argument.
// CHECK-LABEL: func.func @returned_argument
// CHECK-SAME: (%[[X:.*]]: memref<4xf32>, %[[OUT0:.*]]: memref<4xf32>, %[[OUT1:.*]]: memref<4xf32>) attributes {aidjit.bytes_without_reuse = 0 : i64}
// CHECK-NEXT: linalg.generic {{.*}} ins(%[[X]] : memref<4xf32>) outs(%[[OUT0]] : memref<4xf32>)
// CHECK: math.exp
// CHECK: linalg.generic {{.*}} ins(%[[X]] : memref<4xf32>) outs(%[[OUT1]] : memref<4xf32>) {
// CHECK-NEXT: ^{{.*}}(%[[V:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: linalg.yield %[[V]] : f32
func.func @returned_argument(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %0 = graph.exp %x : tensor<4xf32>
  func.return %0, %x : tensor<4xf32>, tensor<4xf32>
}

// -----

// Reshapes are views: of an argument (collapse then expand, read by the exp), of a
// temporary, and of the output buffer, into which the value reshaped before being returned
// is computed directly.
// CHECK-LABEL: func.func @reshapes
// CHECK-SAME: (%[[X:.*]]: memref<2x6xf32>, %[[OUT:.*]]: memref<3x4xf32>, %[[WS:.*]]: memref<64xi8>)
// CHECK-NEXT: %[[OUT_FLAT:.*]] = memref.collapse_shape %[[OUT]] {{\[\[}}0 : i64, 1 : i64{{\]\]}} : memref<3x4xf32> into memref<12xf32>
// CHECK: %[[T:.*]] = memref.view %[[WS]]
// CHECK-NEXT: %[[X_FLAT:.*]] = memref.collapse_shape %[[X]] {{\[\[}}0 : i64, 1 : i64{{\]\]}} : memref<2x6xf32> into memref<12xf32>
// CHECK-NEXT: %[[X_VIEW:.*]] = memref.expand_shape %[[X_FLAT]] {{\[\[}}0 : i64, 1 : i64{{\]\]}} output_shape [3, 4] : memref<12xf32> into memref<3x4xf32>
// CHECK-NEXT: linalg.generic {{.*}} ins(%[[X_VIEW]] : memref<3x4xf32>) outs(%[[T]] : memref<3x4xf32>)
// CHECK: math.exp
// CHECK: %[[T_FLAT:.*]] = memref.collapse_shape %[[T]] {{\[\[}}0 : i64, 1 : i64{{\]\]}} : memref<3x4xf32> into memref<12xf32>
// CHECK-NEXT: linalg.generic {{.*}} ins(%[[T_FLAT]] : memref<12xf32>) outs(%[[OUT_FLAT]] : memref<12xf32>)
// CHECK: arith.negf
// CHECK-NOT: linalg.generic
// CHECK: func.return
func.func @reshapes(%x: tensor<2x6xf32>) -> tensor<3x4xf32> {
  %0 = graph.reshape %x : tensor<2x6xf32> -> tensor<3x4xf32>
  %1 = graph.exp %0 : tensor<3x4xf32>
  %2 = graph.reshape %1 : tensor<3x4xf32> -> tensor<12xf32>
  %3 = graph.negate %2 : tensor<12xf32>
  %4 = graph.reshape %3 : tensor<12xf32> -> tensor<3x4xf32>
  func.return %4 : tensor<3x4xf32>
}

// -----

// A slice is a strided memref.subview (negative strides included); pad fills its output
// buffer and copies the padded value into a strided subview of it.
// CHECK-LABEL: func.func @slice_and_pad
// CHECK-SAME: (%[[X:.*]]: memref<4x6xf32>, %[[OUT0:.*]]: memref<2x3xf32>, %[[OUT1:.*]]: memref<5x8xf32>) attributes {aidjit.bytes_without_reuse = 0 : i64}
// CHECK-NEXT: %[[S:.*]] = memref.subview %[[X]][3, 1] [2, 3] [-2, 2] : memref<4x6xf32> to memref<2x3xf32, strided<[-12, 2], offset: 19>>
// CHECK-NEXT: linalg.generic {{.*}} ins(%[[S]] : memref<2x3xf32, strided<[-12, 2], offset: 19>>) outs(%[[OUT0]] : memref<2x3xf32>)
// CHECK: math.exp
// CHECK: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: linalg.fill ins(%[[ZERO]] : f32) outs(%[[OUT1]] : memref<5x8xf32>)
// CHECK-NEXT: %[[P:.*]] = memref.subview %[[OUT1]][1, 0] [2, 3] [1, 3] : memref<5x8xf32> to memref<2x3xf32, strided<[8, 3], offset: 8>>
// CHECK-NEXT: linalg.generic {{.*}} ins(%[[OUT0]] : memref<2x3xf32>) outs(%[[P]] : memref<2x3xf32, strided<[8, 3], offset: 8>>)
func.func @slice_and_pad(%x: tensor<4x6xf32>) -> (tensor<2x3xf32>, tensor<5x8xf32>) {
  %0 = graph.slice %x {start = array<i64: 3, 1>, strides = array<i64: -2, 2>} : tensor<4x6xf32> -> tensor<2x3xf32>
  %1 = graph.exp %0 : tensor<2x3xf32>
  %2 = graph.pad %1 {low = array<i64: 1, 0>, high = array<i64: 2, 1>, interior = array<i64: 0, 2>} : tensor<2x3xf32> -> tensor<5x8xf32>
  func.return %1, %2 : tensor<2x3xf32>, tensor<5x8xf32>
}

// -----

// A non-splat constant is a private constant memref.global read with get_global; a splat
// constant (not folded here: no fusion ran) is a fill of workspace bytes. Temporaries are
// placed 64-byte aligned.
// xDSL prints memref.global in the generic form, which upstream mlir-opt parses too.
// CHECK: "memref.global"() <{sym_name = "constants_cst0", type = memref<3xf32>, initial_value = dense<[1.000000e+00, 2.000000e+00, 3.000000e+00]> : tensor<3xf32>, sym_visibility = "private", constant, alignment = 64 : i64}> : () -> ()
// CHECK-LABEL: func.func @constants
// CHECK-SAME: (%[[X:.*]]: memref<3xf32>, %[[OUT:.*]]: memref<3xf32>, %[[WS:.*]]: memref<128xi8>) attributes {aidjit.bytes_without_reuse = 128 : i64}
// CHECK-NEXT: %[[G:.*]] = memref.get_global @constants_cst0 : memref<3xf32>
// CHECK-NEXT: %[[O0:.*]] = arith.constant 0 : index
// CHECK-NEXT: %[[SPLAT:.*]] = memref.view %[[WS]][%[[O0]]][] : memref<128xi8> to memref<3xf32>
// CHECK-NEXT: %[[O1:.*]] = arith.constant 64 : index
// CHECK-NEXT: %[[T:.*]] = memref.view %[[WS]][%[[O1]]][] : memref<128xi8> to memref<3xf32>
// CHECK-NEXT: %[[TWO:.*]] = arith.constant 2.000000e+00 : f32
// CHECK-NEXT: linalg.fill ins(%[[TWO]] : f32) outs(%[[SPLAT]] : memref<3xf32>)
// CHECK-NEXT: linalg.generic {{.*}} ins(%[[X]], %[[G]] : memref<3xf32>, memref<3xf32>) outs(%[[T]] : memref<3xf32>)
// CHECK: linalg.generic {{.*}} ins(%[[T]], %[[SPLAT]] : memref<3xf32>, memref<3xf32>) outs(%[[OUT]] : memref<3xf32>)
func.func @constants(%x: tensor<3xf32>) -> tensor<3xf32> {
  %c = graph.constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
  %s = graph.constant dense<2.0> : tensor<3xf32>
  %0 = graph.multiply %x, %c : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
  %1 = graph.add %0, %s : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
  func.return %1 : tensor<3xf32>
}

// -----

// A reduction accumulates into a filled temporary; mean's division, whose result is returned
// through keepdims' reshape, writes into a collapse_shape view of the 4x1 output.
// CHECK-LABEL: func.func @mean_keepdims
// CHECK-SAME: (%[[X:.*]]: memref<4x3xf32>, %[[OUT:.*]]: memref<4x1xf32>, %[[WS:.*]]: memref<64xi8>)
// CHECK-NEXT: %[[OUT_FLAT:.*]] = memref.collapse_shape %[[OUT]] {{\[\[}}0 : i64, 1 : i64{{\]\]}} : memref<4x1xf32> into memref<4xf32>
// CHECK: %[[SUM:.*]] = memref.view %[[WS]]
// CHECK: linalg.fill ins(%{{.*}} : f32) outs(%[[SUM]] : memref<4xf32>)
// CHECK-NEXT: linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]} ins(%[[X]] : memref<4x3xf32>) outs(%[[SUM]] : memref<4xf32>)
// CHECK: linalg.generic {{.*}} ins(%[[SUM]] : memref<4xf32>) outs(%[[OUT_FLAT]] : memref<4xf32>)
// CHECK: arith.divf
func.func @mean_keepdims(%x: tensor<4x3xf32>) -> tensor<4x1xf32> {
  %0 = graph.mean %x {axes = array<i64: 1>, keepdims} : tensor<4x3xf32> -> tensor<4x1xf32>
  func.return %0 : tensor<4x1xf32>
}

// -----

// A concat writes its operands straight into subviews of its buffer (a workspace slice here,
// then updated in place by the first exp): its tensor.empty is never filled or copied.
// CHECK-LABEL: func.func @concat
// CHECK-SAME: (%[[A:.*]]: memref<2x3xf32>, %[[B:.*]]: memref<1x3xf32>, %[[OUT:.*]]: memref<3x3xf32>, %[[WS:.*]]: memref<64xi8>)
// CHECK: %[[J:.*]] = memref.view %[[WS]]
// CHECK-NEXT: %[[TOP:.*]] = memref.subview %[[J]][0, 0] [2, 3] [1, 1]
// CHECK-NEXT: linalg.generic {{.*}} ins(%[[A]] : memref<2x3xf32>) outs(%[[TOP]] :
// CHECK: %[[BOTTOM:.*]] = memref.subview %[[J]][2, 0] [1, 3] [1, 1]
// CHECK-NEXT: linalg.generic {{.*}} ins(%[[B]] : memref<1x3xf32>) outs(%[[BOTTOM]] :
// CHECK: linalg.generic {{.*}} ins(%[[J]] : memref<3x3xf32>) outs(%[[J]] : memref<3x3xf32>)
// CHECK: linalg.generic {{.*}} ins(%[[J]] : memref<3x3xf32>) outs(%[[OUT]] : memref<3x3xf32>)
func.func @concat(%a: tensor<2x3xf32>, %b: tensor<1x3xf32>) -> tensor<3x3xf32> {
  %0 = graph.concat %a, %b {axis = 0} : tensor<2x3xf32>, tensor<1x3xf32> -> tensor<3x3xf32>
  %1 = graph.exp %0 : tensor<3x3xf32>
  %2 = graph.exp %1 : tensor<3x3xf32>
  func.return %2 : tensor<3x3xf32>
}

// -----

// A gather's source is read in its body, not passed as an operand: it stays alive (its bytes
// are not reused) until the gather has run, and its extract becomes a load of its buffer.
// CHECK-LABEL: func.func @gather_from_a_temporary
// CHECK: %[[EXP:.*]] = memref.view %{{.*}} : memref<128xi8> to memref<6xf32>
// CHECK: %[[GATHERED:.*]] = memref.view %{{.*}} : memref<128xi8> to memref<6xf32>
// CHECK: linalg.generic {{.*}} outs(%[[EXP]] : memref<6xf32>)
// CHECK: linalg.generic {{.*}} outs(%[[GATHERED]] : memref<6xf32>)
// CHECK: memref.load %[[EXP]][%{{.*}}] : memref<6xf32>
func.func @gather_from_a_temporary(%x: tensor<6xf32>, %i: tensor<6xi64>) -> tensor<6xf32> {
  %0 = graph.exp %x : tensor<6xf32>
  %1 = graph.gather %0, %i {axis = 0 : i64} : tensor<6xf32>, tensor<6xi64> -> tensor<6xf32>
  %2 = graph.exp %1 : tensor<6xf32>
  func.return %2 : tensor<6xf32>
}

// -----

// A scatter's loop carrying a tensor updates its output buffer in place: no iter_args, a load
// and a store where the extract and the insert were.
// CHECK-LABEL: func.func @scatter_add
// CHECK-SAME: (%[[G:.*]]: memref<2x3xf32>, %[[I:.*]]: memref<1x3xi64>, %[[OUT:.*]]: memref<2x4xf32>)
// CHECK: linalg.fill ins(%{{.*}} : f32) outs(%[[OUT]] : memref<2x4xf32>)
// CHECK: scf.for %[[A:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK: scf.for %[[B:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK: %[[OLD:.*]] = memref.load %[[OUT]][%[[A]], %[[J:.*]]] : memref<2x4xf32>
// CHECK-NEXT: %[[NEW:.*]] = arith.addf %[[OLD]], %{{.*}} : f32
// CHECK-NEXT: memref.store %[[NEW]], %[[OUT]][%[[A]], %[[J]]] : memref<2x4xf32>
func.func @scatter_add(%g: tensor<2x3xf32>, %i: tensor<1x3xi64>) -> tensor<2x4xf32> {
  %0 = graph.scatter_add %g, %i {axis = 1 : i64} : tensor<2x3xf32>, tensor<1x3xi64> -> tensor<2x4xf32>
  func.return %0 : tensor<2x4xf32>
}

// -----

// A pooling window (a `tensor.empty` read as an input, never loaded: it sizes the kh and kw
// loops) gets workspace bytes of its own, so the generic keeps its loop bounds on memrefs.
// CHECK-LABEL: func.func @pool_window
// CHECK-SAME: (%[[X:.*]]: memref<1x1x4x4xf32>, %[[OUT:.*]]: memref<1x1x2x2xf32>, %[[WS:.*]]: memref<64xi8>)
// CHECK: %[[WINDOW:.*]] = memref.view %[[WS]][%{{.*}}][] : memref<64xi8> to memref<2x2xf32>
// CHECK: linalg.fill ins(%{{.*}} : f32) outs(%[[OUT]] : memref<1x1x2x2xf32>)
// CHECK-NEXT: linalg.generic {{.*}} ins(%[[X]], %[[WINDOW]] : memref<1x1x4x4xf32>, memref<2x2xf32>) outs(%[[OUT]] : memref<1x1x2x2xf32>)
func.func @pool_window(%x: tensor<1x1x4x4xf32>) -> tensor<1x1x2x2xf32> {
  %0 = graph.max_pool2d %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>, dilation = array<i64: 1, 1>} : tensor<1x1x4x4xf32> -> tensor<1x1x2x2xf32>
  func.return %0 : tensor<1x1x2x2xf32>
}
