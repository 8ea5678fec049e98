// RUN: aidjit-opt %s --split-input-file -p convert-graph-to-linalg,linalg-fuse-elementwise | filecheck %s

// Inputs are graph-level and lowered first: each graph op is then one linalg.generic, as
// convert-graph-to-linalg makes it, and the CHECK lines show what fusion did to them.

// A W1-like chain becomes one generic: the splat constant is a scalar in the body, `x`, read
// twice, is one input, and every producer is inlined in order. No temporary is left.
// CHECK-LABEL: func.func @chain
// CHECK-SAME: (%[[X:.*]]: tensor<8xf32>, %[[Y:.*]]: tensor<8xf32>)
// CHECK-NEXT: %[[E:.*]] = tensor.empty() : tensor<8xf32>
// CHECK-NEXT: %[[R:.*]] = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%[[X]], %[[Y]] : tensor<8xf32>, tensor<8xf32>) outs(%[[E]] : tensor<8xf32>) {
// CHECK-NEXT: ^{{.*}}(%[[A:.*]]: f32, %[[B:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: %[[TWO:.*]] = arith.constant 2.000000e+00 : f32
// CHECK-NEXT: %[[M:.*]] = arith.mulf %[[A]], %[[TWO]] : f32
// CHECK-NEXT: %[[S:.*]] = arith.addf %[[M]], %[[B]] : f32
// CHECK-NEXT: %[[T:.*]] = math.tanh %[[S]] : f32
// CHECK-NEXT: %[[D:.*]] = arith.subf %[[T]], %[[A]] : f32
// CHECK-NEXT: linalg.yield %[[D]] : f32
// CHECK-NEXT: } -> tensor<8xf32>
// CHECK-NEXT: func.return %[[R]] : tensor<8xf32>
func.func @chain(%x: tensor<8xf32>, %y: tensor<8xf32>) -> tensor<8xf32> {
  %two = graph.constant dense<2.0> : tensor<f32>
  %0 = graph.multiply %x, %two : tensor<8xf32>, tensor<f32> -> tensor<8xf32>
  %1 = graph.add %0, %y : tensor<8xf32>, tensor<8xf32> -> tensor<8xf32>
  %2 = graph.tanh %1 : tensor<8xf32>
  %3 = graph.subtract %2, %x : tensor<8xf32>, tensor<8xf32> -> tensor<8xf32>
  func.return %3 : tensor<8xf32>
}

// -----

// A prologue fused into a reduction: logsumexp's `exp(x - peak)` is computed inside the sum,
// the broadcast of the peak kept as an indexing map; the expensive exp has one user, so it is
// not duplicated.
// CHECK-LABEL: func.func @prologue
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf32>, %[[P:.*]]: tensor<4x1xf32>)
// CHECK: %[[FILL:.*]] = linalg.fill
// CHECK-NEXT: %[[R:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, 0)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%[[X]], %[[P]] : tensor<4x8xf32>, tensor<4x1xf32>) outs(%[[FILL]] : tensor<4xf32>) {
// CHECK-NEXT: ^{{.*}}(%[[A:.*]]: f32, %[[B:.*]]: f32, %[[ACC:.*]]: f32):
// CHECK-NEXT: %[[D:.*]] = arith.subf %[[A]], %[[B]] : f32
// CHECK-NEXT: %[[E:.*]] = math.exp %[[D]] : f32
// CHECK-NEXT: %[[S:.*]] = arith.addf %[[ACC]], %[[E]] : f32
// CHECK-NEXT: linalg.yield %[[S]] : f32
// CHECK-NEXT: } -> tensor<4xf32>
// CHECK-NEXT: func.return %[[R]] : tensor<4xf32>
func.func @prologue(%x: tensor<4x8xf32>, %p: tensor<4x1xf32>) -> tensor<4xf32> {
  %0 = graph.subtract %x, %p : tensor<4x8xf32>, tensor<4x1xf32> -> tensor<4x8xf32>
  %1 = graph.exp %0 : tensor<4x8xf32>
  %2 = graph.sum %1 {axes = array<i64: 1>} : tensor<4x8xf32> -> tensor<4xf32>
  func.return %2 : tensor<4xf32>
}

// -----

// Data movement fuses through any map: the consumer reads the transpose's input through the
// composed map (d1, d0), and a broadcast (non-injective, but computing nothing) is fused into
// both of its users and erased.
// CHECK-LABEL: func.func @data_movement
// CHECK-SAME: (%[[X:.*]]: tensor<3x4xf32>, %[[Y:.*]]: tensor<4x3xf32>, %[[B:.*]]: tensor<3xf32>)
// CHECK-NEXT: %[[E0:.*]] = tensor.empty() : tensor<4x3xf32>
// CHECK-NEXT: %[[ADD:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d1, d0)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%[[X]], %[[Y]] : tensor<3x4xf32>, tensor<4x3xf32>) outs(%[[E0]] : tensor<4x3xf32>) {
// CHECK: arith.addf
// CHECK: %[[EXP:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%[[B]] : tensor<3xf32>)
// CHECK-NEXT: ^{{.*}}(%[[V:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: math.exp %[[V]] : f32
// CHECK: %[[NEG:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%[[B]] : tensor<3xf32>)
// CHECK-NEXT: ^{{.*}}(%[[W:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: arith.negf %[[W]] : f32
// CHECK-NOT: linalg.generic
// CHECK: func.return %[[ADD]], %[[EXP]], %[[NEG]]
func.func @data_movement(%x: tensor<3x4xf32>, %y: tensor<4x3xf32>, %b: tensor<3xf32>) -> (tensor<4x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>) {
  %t = graph.transpose %x {perm = array<i64: 1, 0>} : tensor<3x4xf32> -> tensor<4x3xf32>
  %0 = graph.add %t, %y : tensor<4x3xf32>, tensor<4x3xf32> -> tensor<4x3xf32>
  %bb = graph.broadcast_to %b : tensor<3xf32> -> tensor<2x3xf32>
  %1 = graph.exp %bb : tensor<2x3xf32>
  %2 = graph.negate %bb : tensor<2x3xf32>
  func.return %0, %1, %2 : tensor<4x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>
}

// -----

// Splat constants (here a full-shape splat and a fill read as an input, written at the linalg
// level) become scalar constants in the body; the dead constant tensor is erased.
// CHECK-LABEL: func.func @splats
// CHECK-SAME: (%[[X:.*]]: tensor<4xf64>)
// CHECK-NOT: arith.constant dense
// CHECK: linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%[[X]] : tensor<4xf64>)
// CHECK-NEXT: ^{{.*}}(%[[A:.*]]: f64, %{{.*}}: f64):
// CHECK-NEXT: %[[THREE:.*]] = arith.constant 3.000000e+00 : f64
// CHECK-NEXT: %[[HALF:.*]] = arith.constant 5.000000e-01 : f64
// CHECK-NEXT: %[[M:.*]] = arith.mulf %[[A]], %[[THREE]] : f64
// CHECK-NEXT: %[[S:.*]] = arith.addf %[[M]], %[[HALF]] : f64
// CHECK-NEXT: linalg.yield %[[S]] : f64
func.func @splats(%x: tensor<4xf64>) -> tensor<4xf64> {
  %three = arith.constant dense<3.0> : tensor<4xf64>
  %half = arith.constant 0.5 : f64
  %e0 = tensor.empty() : tensor<4xf64>
  %filled = linalg.fill ins(%half : f64) outs(%e0 : tensor<4xf64>) -> tensor<4xf64>
  %e1 = tensor.empty() : tensor<4xf64>
  %0 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%x, %three, %filled : tensor<4xf64>, tensor<4xf64>, tensor<4xf64>) outs(%e1 : tensor<4xf64>) {
  ^bb0(%a: f64, %b: f64, %c: f64, %out: f64):
    %m = arith.mulf %a, %b : f64
    %s = arith.addf %m, %c : f64
    linalg.yield %s : f64
  } -> tensor<4xf64>
  func.return %0 : tensor<4xf64>
}

// -----

// An operand passed twice with the same map is read once.
// CHECK-LABEL: func.func @duplicates
// CHECK-SAME: (%[[X:.*]]: tensor<8xf32>)
// CHECK: linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%[[X]] : tensor<8xf32>)
// CHECK-NEXT: ^{{.*}}(%[[A:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: arith.mulf %[[A]], %[[A]] : f32
func.func @duplicates(%x: tensor<8xf32>) -> tensor<8xf32> {
  %0 = graph.multiply %x, %x : tensor<8xf32>, tensor<8xf32> -> tensor<8xf32>
  func.return %0 : tensor<8xf32>
}

// -----

// A cheap producer with two users is recomputed in both and disappears: two generics, each
// reading x and y and adding them, and no third one.
// CHECK-LABEL: func.func @cheap_two_users
// CHECK-SAME: (%[[X:.*]]: tensor<8xf32>, %[[Y:.*]]: tensor<8xf32>)
// CHECK: %[[NEG:.*]] = linalg.generic {{.*}} ins(%[[X]], %[[Y]] : tensor<8xf32>, tensor<8xf32>)
// CHECK-NEXT: ^{{.*}}(%[[A:.*]]: f32, %[[B:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: %[[S:.*]] = arith.addf %[[A]], %[[B]] : f32
// CHECK-NEXT: arith.negf %[[S]] : f32
// CHECK: %[[SUB:.*]] = linalg.generic {{.*}} ins(%[[X]], %[[Y]] : tensor<8xf32>, tensor<8xf32>)
// CHECK-NEXT: ^{{.*}}(%[[C:.*]]: f32, %[[D:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: %[[T:.*]] = arith.addf %[[C]], %[[D]] : f32
// CHECK-NEXT: arith.subf %[[T]], %[[D]] : f32
// CHECK-NOT: linalg.generic
// CHECK: func.return %[[NEG]], %[[SUB]]
func.func @cheap_two_users(%x: tensor<8xf32>, %y: tensor<8xf32>) -> (tensor<8xf32>, tensor<8xf32>) {
  %0 = graph.add %x, %y : tensor<8xf32>, tensor<8xf32> -> tensor<8xf32>
  %1 = graph.negate %0 : tensor<8xf32>
  %2 = graph.subtract %0, %y : tensor<8xf32>, tensor<8xf32> -> tensor<8xf32>
  func.return %1, %2 : tensor<8xf32>, tensor<8xf32>
}

// -----

// Negative: an expensive producer (exp) with two users is computed once and stored; both
// users read it.
// CHECK-LABEL: func.func @expensive_two_users
// CHECK: %[[EXP:.*]] = linalg.generic
// CHECK-NEXT: ^
// CHECK-NEXT: math.exp
// CHECK: %[[NEG:.*]] = linalg.generic {{.*}} ins(%[[EXP]] : tensor<8xf32>)
// CHECK-NOT: math.exp
// CHECK: %[[MUL:.*]] = linalg.generic {{.*}} ins(%[[EXP]], %{{.*}} : tensor<8xf32>, tensor<8xf32>)
// CHECK-NOT: math.exp
// CHECK: func.return %[[NEG]], %[[MUL]]
func.func @expensive_two_users(%x: tensor<8xf32>, %y: tensor<8xf32>) -> (tensor<8xf32>, tensor<8xf32>) {
  %0 = graph.exp %x : tensor<8xf32>
  %1 = graph.negate %0 : tensor<8xf32>
  %2 = graph.multiply %0, %y : tensor<8xf32>, tensor<8xf32> -> tensor<8xf32>
  func.return %1, %2 : tensor<8xf32>, tensor<8xf32>
}

// -----

// Negative: a producer that computes something and is read through a broadcast map is not
// recomputed for every element of the broadcast, even though it has one user.
// CHECK-LABEL: func.func @broadcast_computed
// CHECK-SAME: (%[[X:.*]]: tensor<4x3xf32>, %[[B:.*]]: tensor<3xf32>)
// CHECK: %[[NEG:.*]] = linalg.generic {{.*}} ins(%[[B]] : tensor<3xf32>) outs(%{{.*}} : tensor<3xf32>)
// CHECK-NEXT: ^
// CHECK-NEXT: arith.negf
// CHECK: linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%[[X]], %[[NEG]] : tensor<4x3xf32>, tensor<3xf32>)
// CHECK-NOT: arith.negf
// CHECK: func.return
func.func @broadcast_computed(%x: tensor<4x3xf32>, %b: tensor<3xf32>) -> tensor<4x3xf32> {
  %0 = graph.negate %b : tensor<3xf32>
  %1 = graph.add %x, %0 : tensor<4x3xf32>, tensor<3xf32> -> tensor<4x3xf32>
  func.return %1 : tensor<4x3xf32>
}

// -----

// Negative: a reduction is no producer to fuse (its result is complete only after the loop);
// the epilogue reads the reduced tensor.
// CHECK-LABEL: func.func @reduction_producer
// CHECK: %[[SUM:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel"]} ins(%[[SUM]] : tensor<4xf32>)
// CHECK-NEXT: ^
// CHECK-NEXT: arith.negf
func.func @reduction_producer(%x: tensor<4x8xf32>) -> tensor<4xf32> {
  %0 = graph.sum %x {axes = array<i64: 1>} : tensor<4x8xf32> -> tensor<4xf32>
  %1 = graph.negate %0 : tensor<4xf32>
  func.return %1 : tensor<4xf32>
}

// -----

// Negative: a producer whose result is also returned must be stored anyway, so its consumer
// reads it instead of recomputing it.
// CHECK-LABEL: func.func @returned_producer
// CHECK-SAME: (%[[X:.*]]: tensor<8xf32>, %[[Y:.*]]: tensor<8xf32>)
// CHECK: %[[ADD:.*]] = linalg.generic {{.*}} ins(%[[X]], %[[Y]] : tensor<8xf32>, tensor<8xf32>)
// CHECK: %[[MUL:.*]] = linalg.generic {{.*}} ins(%[[ADD]], %[[Y]] : tensor<8xf32>, tensor<8xf32>)
// CHECK-NEXT: ^{{.*}}(%[[A:.*]]: f32, %[[B:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: arith.mulf %[[A]], %[[B]] : f32
// CHECK: func.return %[[ADD]], %[[MUL]]
func.func @returned_producer(%x: tensor<8xf32>, %y: tensor<8xf32>) -> (tensor<8xf32>, tensor<8xf32>) {
  %0 = graph.add %x, %y : tensor<8xf32>, tensor<8xf32> -> tensor<8xf32>
  %1 = graph.multiply %0, %y : tensor<8xf32>, tensor<8xf32> -> tensor<8xf32>
  func.return %0, %1 : tensor<8xf32>, tensor<8xf32>
}
