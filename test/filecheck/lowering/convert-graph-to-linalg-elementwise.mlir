// RUN: aidjit-opt %s --split-input-file -p convert-graph-to-linalg | filecheck %s

// The elementwise math and activation ops at the structured level (lowering/elementwise.py):
// each is one parallel linalg.generic whose body is its formula, parameters as constants.

// softplus with beta: z = beta x; x where z > threshold, else (max(z, 0) + log1p(exp(-|z|))) / beta.
// CHECK-LABEL: func.func @softplus
// CHECK: linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]}
// CHECK-NEXT: ^{{.*}}(%[[X:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: %[[BETA:.*]] = arith.constant 2.000000e+00 : f32
// CHECK-NEXT: %[[Z:.*]] = arith.mulf %[[X]], %[[BETA]] : f32
// CHECK-NEXT: %[[ABS:.*]] = math.absf %[[Z]] : f32
// CHECK-NEXT: %[[NEG:.*]] = arith.negf %[[ABS]] : f32
// CHECK-NEXT: %[[EXP:.*]] = math.exp %[[NEG]] : f32
// CHECK-NEXT: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: %[[POS:.*]] = arith.maximumf %[[Z]], %[[ZERO]] : f32
// CHECK-NEXT: %[[LOG:.*]] = math.log1p %[[EXP]] : f32
// CHECK-NEXT: %[[SUM:.*]] = arith.addf %[[POS]], %[[LOG]] : f32
// CHECK-NEXT: %[[BETA2:.*]] = arith.constant 2.000000e+00 : f32
// CHECK-NEXT: %[[SMOOTH:.*]] = arith.divf %[[SUM]], %[[BETA2]] : f32
// CHECK-NEXT: %[[THRESHOLD:.*]] = arith.constant 1.500000e+01 : f32
// CHECK-NEXT: %[[OVER:.*]] = arith.cmpf ogt, %[[Z]], %[[THRESHOLD]] : f32
// CHECK-NEXT: %[[R:.*]] = arith.select %[[OVER]], %[[X]], %[[SMOOTH]] : f32
// CHECK-NEXT: linalg.yield %[[R]] : f32
func.func @softplus(%x: tensor<3x5xf32>) -> tensor<3x5xf32> {
  %0 = graph.softplus %x {beta = 2.0 : f64, threshold = 15.0 : f64} : tensor<3x5xf32>
  func.return %0 : tensor<3x5xf32>
}

// -----

// Exact gelu: 0.5 x (1 + erf(x / sqrt 2)); the tanh approximation has a tanh in its place.
// CHECK-LABEL: func.func @gelu
// CHECK: ^{{.*}}(%[[X:.*]]: f64, %{{.*}}: f64):
// CHECK-NEXT: %[[C:.*]] = arith.constant 0.70710678118654757 : f64
// CHECK-NEXT: %[[S:.*]] = arith.mulf %[[X]], %[[C]] : f64
// CHECK-NEXT: %[[ERF:.*]] = math.erf %[[S]] : f64
// CHECK-NEXT: %[[HALF:.*]] = arith.constant 5.000000e-01 : f64
// CHECK-NEXT: %[[HX:.*]] = arith.mulf %[[X]], %[[HALF]] : f64
// CHECK-NEXT: %[[ONE:.*]] = arith.constant 1.000000e+00 : f64
// CHECK-NEXT: %[[P:.*]] = arith.addf %[[ERF]], %[[ONE]] : f64
// CHECK-NEXT: %[[R:.*]] = arith.mulf %[[HX]], %[[P]] : f64
// CHECK-NEXT: linalg.yield %[[R]] : f64
// CHECK: math.tanh
// CHECK-NOT: math.erf
func.func @gelu(%x: tensor<7xf64>) -> (tensor<7xf64>, tensor<7xf64>) {
  %0 = graph.gelu %x {approximate = "none"} : tensor<7xf64>
  %1 = graph.gelu %x {approximate = "tanh"} : tensor<7xf64>
  func.return %0, %1 : tensor<7xf64>, tensor<7xf64>
}

// -----

// Piecewise activations are selects on x > 0 (nan takes the other branch, and stays nan).
// CHECK-LABEL: func.func @piecewise
// CHECK: ^{{.*}}(%[[X:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: %[[SLOPE:.*]] = arith.constant 2.000000e-01 : f32
// CHECK-NEXT: %[[NEG:.*]] = arith.mulf %[[X]], %[[SLOPE]] : f32
// CHECK-NEXT: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: %[[POS:.*]] = arith.cmpf ogt, %[[X]], %[[ZERO]] : f32
// CHECK-NEXT: %[[R:.*]] = arith.select %[[POS]], %[[X]], %[[NEG]] : f32
// CHECK-NEXT: linalg.yield %[[R]] : f32
// CHECK: ^{{.*}}(%[[Y:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: %[[EM1:.*]] = math.expm1 %[[Y]] : f32
// CHECK-NEXT: %[[ALPHA:.*]] = arith.constant 5.000000e-01 : f32
// CHECK-NEXT: %[[SAT:.*]] = arith.mulf %[[EM1]], %[[ALPHA]] : f32
// CHECK: arith.select %{{.*}}, %[[Y]], %[[SAT]] : f32
func.func @piecewise(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = graph.leaky_relu %x {negative_slope = 0.2 : f64} : tensor<4xf32>
  %1 = graph.elu %0 {alpha = 0.5 : f64} : tensor<4xf32>
  func.return %1 : tensor<4xf32>
}

// -----

// clip is maximumf then minimumf (numpy's order; both propagate nan); an absent bound has no
// op. rsqrt is 1 / sqrt(x), which vectorises (math.rsqrt has no vector form there).
// CHECK-LABEL: func.func @clip_and_rsqrt
// CHECK: ^{{.*}}(%[[X:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: %[[LO:.*]] = arith.constant -1.000000e+00 : f32
// CHECK-NEXT: %[[A:.*]] = arith.maximumf %[[X]], %[[LO]] : f32
// CHECK-NEXT: %[[HI:.*]] = arith.constant 2.500000e+00 : f32
// CHECK-NEXT: %[[B:.*]] = arith.minimumf %[[A]], %[[HI]] : f32
// CHECK-NEXT: linalg.yield %[[B]] : f32
// CHECK: ^{{.*}}(%[[Y:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: %[[HI2:.*]] = arith.constant 5.000000e-01 : f32
// CHECK-NEXT: %[[C:.*]] = arith.minimumf %[[Y]], %[[HI2]] : f32
// CHECK-NEXT: linalg.yield %[[C]] : f32
// CHECK: ^{{.*}}(%[[Z:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK-NEXT: %[[ROOT:.*]] = math.sqrt %[[Z]] : f32
// CHECK-NEXT: %[[INV:.*]] = arith.divf %[[ONE]], %[[ROOT]] : f32
// CHECK-NEXT: linalg.yield %[[INV]] : f32
func.func @clip_and_rsqrt(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = graph.clip %x {a_min = -1.0 : f64, a_max = 2.5 : f64} : tensor<4xf32>
  %1 = graph.clip %0 {a_max = 0.5 : f64} : tensor<4xf32>
  %2 = graph.rsqrt %1 : tensor<4xf32>
  func.return %2 : tensor<4xf32>
}

// -----

// log_sigmoid: min(x, 0) - log1p(exp(-|x|)); mish: x * tanh(max(x, 0) + log1p(exp(-|x|))).
// CHECK-LABEL: func.func @stable
// CHECK: ^{{.*}}(%[[X:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: %[[ABS:.*]] = math.absf %[[X]] : f32
// CHECK-NEXT: %[[NEG:.*]] = arith.negf %[[ABS]] : f32
// CHECK-NEXT: %[[EXP:.*]] = math.exp %[[NEG]] : f32
// CHECK-NEXT: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: %[[MIN:.*]] = arith.minimumf %[[X]], %[[ZERO]] : f32
// CHECK-NEXT: %[[LOG:.*]] = math.log1p %[[EXP]] : f32
// CHECK-NEXT: %[[R:.*]] = arith.subf %[[MIN]], %[[LOG]] : f32
// CHECK-NEXT: linalg.yield %[[R]] : f32
// CHECK: ^{{.*}}(%[[Y:.*]]: f32, %{{.*}}: f32):
// CHECK: %[[SP:.*]] = arith.addf
// CHECK-NEXT: %[[T:.*]] = math.tanh %[[SP]] : f32
// CHECK-NEXT: %[[M:.*]] = arith.mulf %[[Y]], %[[T]] : f32
// CHECK-NEXT: linalg.yield %[[M]] : f32
func.func @stable(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %0 = graph.log_sigmoid %x : tensor<4xf32>
  %1 = graph.mish %x : tensor<4xf32>
  func.return %0, %1 : tensor<4xf32>, tensor<4xf32>
}
