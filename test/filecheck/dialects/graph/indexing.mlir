// RUN: aidjit-opt %s --split-input-file | aidjit-opt --split-input-file | filecheck %s
// RUN: aidjit-opt %s --split-input-file --print-op-generic | aidjit-opt --split-input-file | filecheck %s

// The gather and scatter ops (autodiff/ops/indexing.py) survive a print/parse round trip,
// custom and generic: `axis` is an i64 attribute, `mode` a string left out when it is "raise";
// the gathered extent and the scatter's shape come from the types.

// CHECK-LABEL: func.func @indexing
// CHECK-SAME: (%[[X:.*]]: tensor<3x5xf32>, %[[I:.*]]: tensor<1x7xi64>, %[[G:.*]]: tensor<3x7xf32>)
func.func @indexing(%x: tensor<3x5xf32>, %i: tensor<1x7xi64>, %g: tensor<3x7xf32>) -> (tensor<3x7xf32>, tensor<3x5xf32>) {
  // CHECK: %[[T:.*]] = graph.gather %[[X]], %[[I]] {axis = 1 : i64} : tensor<3x5xf32>, tensor<1x7xi64> -> tensor<3x7xf32>
  %0 = graph.gather %x, %i {axis = 1 : i64} : tensor<3x5xf32>, tensor<1x7xi64> -> tensor<3x7xf32>
  // CHECK: %[[S:.*]] = graph.scatter_add %[[G]], %[[I]] {axis = 1 : i64, mode = "clip"} : tensor<3x7xf32>, tensor<1x7xi64> -> tensor<3x5xf32>
  %1 = graph.scatter_add %g, %i {axis = 1 : i64, mode = "clip"} : tensor<3x7xf32>, tensor<1x7xi64> -> tensor<3x5xf32>
  // CHECK: func.return %[[T]], %[[S]]
  func.return %0, %1 : tensor<3x7xf32>, tensor<3x5xf32>
}

// -----

// CHECK-LABEL: func.func @gather_f64_wrap
// CHECK: graph.gather %{{.*}}, %{{.*}} {axis = 0 : i64, mode = "wrap"} : tensor<4xf64>, tensor<6xi64> -> tensor<6xf64>
func.func @gather_f64_wrap(%x: tensor<4xf64>, %i: tensor<6xi64>) -> tensor<6xf64> {
  %0 = graph.gather %x, %i {axis = 0 : i64, mode = "wrap"} : tensor<4xf64>, tensor<6xi64> -> tensor<6xf64>
  func.return %0 : tensor<6xf64>
}
