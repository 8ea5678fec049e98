// RUN: not aidjit-opt %s --split-input-file --verify-diagnostics 2>&1 | filecheck %s

// --verify-diagnostics itself: a diagnostic nobody expected, an expectation nothing met and an
// expectation on the wrong line each fail the run, reported at the diagnostic or annotation.

func.func @unexpected(%x: tensor<4xi64>) -> tensor<4xi64> {
  %0 = graph.exp %x : tensor<4xi64>
  func.return %0 : tensor<4xi64>
}
// CHECK: verify-diagnostics.mlir:7:3: error: unexpected error: graph.exp: expected a float32 or float64 tensor, got tensor<4xi64>

// -----

func.func @unmet(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error@+1 {{never reported}}
  %0 = graph.exp %x : tensor<4xf32>
  func.return %0 : tensor<4xf32>
}
// CHECK: verify-diagnostics.mlir:15:6: error: expected error "never reported" was not produced

// -----

func.func @wrong_line(%x: tensor<4xi64>) -> tensor<4xi64> {
  // expected-error@+2 {{graph.exp: expected a float32}}
  %0 = graph.exp %x : tensor<4xi64>
  func.return %0 : tensor<4xi64>
}
// CHECK: verify-diagnostics.mlir:25:3: error: unexpected error: graph.exp: expected a float32
// CHECK: verify-diagnostics.mlir:24:6: error: expected error "graph.exp: expected a float32" was not produced

// -----

// Offsets: @-1 and @above name the line before, a bare annotation its own line.
func.func @offsets(%x: tensor<4xi64>) -> tensor<4xi64> {
  %0 = graph.exp %x : tensor<4xi64>
  // expected-error@-1 {{graph.exp}}
  func.return %0 : tensor<4xi64>
}
// CHECK-NOT: verify-diagnostics.mlir:35
// CHECK-NOT: verify-diagnostics.mlir:36

// -----

func.func @above(%x: tensor<4xi64>) -> tensor<4xi64> {
  %0 = graph.exp %x : tensor<4xi64>
  // expected-error@above {{graph.exp}}
  func.return %0 : tensor<4xi64>
}
// CHECK-NOT: verify-diagnostics.mlir:45
// CHECK-NOT: verify-diagnostics.mlir:46
