// RUN: not aidjit-opt %s --split-input-file 2>&1 | filecheck %s

// Diagnostics read like mlir-opt's: file:line:col (lines of the whole file), the source line,
// then the op at fault alone, not the module. Every chunk runs, failing or not.

func.func @verifier(%x: tensor<4xf32>, %y: tensor<3xf32>) -> tensor<4xf32> {
  %0 = graph.add %x, %y : tensor<4xf32>, tensor<3xf32> -> tensor<4xf32>
  func.return %0 : tensor<4xf32>
}
// CHECK: diagnostics.mlir:7:3: error: graph.add: operands tensor<4xf32> and tensor<3xf32> cannot be broadcast together
// CHECK-NEXT: {{^}}  %0 = graph.add %x, %y : tensor<4xf32>, tensor<3xf32> -> tensor<4xf32>
// CHECK-NEXT: {{^}}  ^
// CHECK-NEXT: diagnostics.mlir:7:3: note: see current operation: %0 = "graph.add"(%x, %y) : (tensor<4xf32>, tensor<3xf32>) -> tensor<4xf32>
// CHECK-NOT: func.func @verifier

// -----

// A valid chunk after a failing one still runs and prints.
func.func @valid(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = graph.exp %x : tensor<4xf32>
  func.return %0 : tensor<4xf32>
}
// CHECK: func.func @valid
// CHECK: graph.exp

// -----

// A missing `>` is reported where it is missing, at the end of line 30, not on line 31.
func.func @missing_angle(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = graph.exp %x : tensor<4xf32
  func.return %0 : tensor<4xf32>
}
// CHECK: diagnostics.mlir:30:35: error: Expected '>' after builtin parameter list

// -----

// An unknown op is reported at its name, not at its first operand.
func.func @unknown_op(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = graph.frobnicate %x : tensor<4xf32>
  func.return %0 : tensor<4xf32>
}
// CHECK: diagnostics.mlir:39:8: error: operation 'graph.frobnicate' is not registered
// CHECK-NEXT: {{^}}  %0 = graph.frobnicate %x : tensor<4xf32>
// CHECK-NEXT: {{^}}       ^
