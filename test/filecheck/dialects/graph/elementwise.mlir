// RUN: aidjit-opt %s --split-input-file | aidjit-opt --split-input-file | filecheck %s
// RUN: aidjit-opt %s --split-input-file --print-op-generic | aidjit-opt --split-input-file | filecheck %s

// The elementwise math and activation ops (autodiff/ops/elementwise.py) survive a print/parse
// round trip, custom and generic. Parametrised ones carry their parameters as properties
// printed in the attribute dictionary: f64 numbers, gelu's approximation a string, clip's
// bounds optional (an absent bound is no bound). An f64 parameter prints exactly.

// CHECK-LABEL: func.func @math
// CHECK-SAME: (%[[X:.*]]: tensor<3x5xf32>)
func.func @math(%x: tensor<3x5xf32>) -> tensor<3x5xf32> {
  // CHECK: %[[SIN:.*]] = graph.sin %[[X]] : tensor<3x5xf32>
  %0 = graph.sin %x : tensor<3x5xf32>
  // CHECK: %[[COS:.*]] = graph.cos %[[SIN]] : tensor<3x5xf32>
  %1 = graph.cos %0 : tensor<3x5xf32>
  // CHECK: %[[SQ:.*]] = graph.square %[[COS]] : tensor<3x5xf32>
  %2 = graph.square %1 : tensor<3x5xf32>
  // CHECK: %[[REC:.*]] = graph.reciprocal %[[SQ]] : tensor<3x5xf32>
  %3 = graph.reciprocal %2 : tensor<3x5xf32>
  // CHECK: %[[RS:.*]] = graph.rsqrt %[[REC]] : tensor<3x5xf32>
  %4 = graph.rsqrt %3 : tensor<3x5xf32>
  // CHECK: %[[FL:.*]] = graph.floor %[[RS]] : tensor<3x5xf32>
  %5 = graph.floor %4 : tensor<3x5xf32>
  // CHECK: %[[ERF:.*]] = graph.erf %[[FL]] : tensor<3x5xf32>
  %6 = graph.erf %5 : tensor<3x5xf32>
  // CHECK: func.return %[[ERF]] : tensor<3x5xf32>
  func.return %6 : tensor<3x5xf32>
}

// -----

// CHECK-LABEL: func.func @activations
// CHECK-SAME: (%[[X:.*]]: tensor<7xf64>)
func.func @activations(%x: tensor<7xf64>) -> tensor<7xf64> {
  // CHECK: %[[SP:.*]] = graph.softplus %[[X]] {beta = 2.000000e+00 : f64, threshold = 2.000000e+01 : f64} : tensor<7xf64>
  %0 = graph.softplus %x {beta = 2.0 : f64, threshold = 20.0 : f64} : tensor<7xf64>
  // CHECK: %[[GE:.*]] = graph.gelu %[[SP]] {approximate = "none"} : tensor<7xf64>
  %1 = graph.gelu %0 {approximate = "none"} : tensor<7xf64>
  // CHECK: %[[GT:.*]] = graph.gelu %[[GE]] {approximate = "tanh"} : tensor<7xf64>
  %2 = graph.gelu %1 {approximate = "tanh"} : tensor<7xf64>
  // CHECK: %[[LR:.*]] = graph.leaky_relu %[[GT]] {negative_slope = 1.000000e-02 : f64} : tensor<7xf64>
  %3 = graph.leaky_relu %2 {negative_slope = 0.01 : f64} : tensor<7xf64>
  // CHECK: %[[ELU:.*]] = graph.elu %[[LR]] {alpha = 1.6732632423543772 : f64} : tensor<7xf64>
  %4 = graph.elu %3 {alpha = 1.6732632423543772 : f64} : tensor<7xf64>
  // CHECK: %[[SILU:.*]] = graph.silu %[[ELU]] : tensor<7xf64>
  %5 = graph.silu %4 : tensor<7xf64>
  // CHECK: %[[MISH:.*]] = graph.mish %[[SILU]] : tensor<7xf64>
  %6 = graph.mish %5 : tensor<7xf64>
  // CHECK: %[[LS:.*]] = graph.log_sigmoid %[[MISH]] : tensor<7xf64>
  %7 = graph.log_sigmoid %6 : tensor<7xf64>
  // CHECK: %[[C2:.*]] = graph.clip %[[LS]] {a_min = -1.000000e+00 : f64, a_max = 1.000000e+00 : f64} : tensor<7xf64>
  %8 = graph.clip %7 {a_min = -1.0 : f64, a_max = 1.0 : f64} : tensor<7xf64>
  // CHECK: %[[C1:.*]] = graph.clip %[[C2]] {a_max = 5.000000e-01 : f64} : tensor<7xf64>
  %9 = graph.clip %8 {a_max = 0.5 : f64} : tensor<7xf64>
  // CHECK: func.return %[[C1]] : tensor<7xf64>
  func.return %9 : tensor<7xf64>
}
