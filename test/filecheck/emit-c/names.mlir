// RUN: aidjit-opt %s -t c | filecheck %s

// Symbols from the IR never reach C unsanitised: a plain, free identifier is kept, anything
// else (here a name libm already uses and one with a dot) is escaped behind `aj_`.

builtin.module {
  // CHECK-LABEL: void mlp_forward(float *restrict arg0) {
  func.func @mlp_forward(%arg0 : memref<f32>) {
    %one = arith.constant 1.0 : f32
    memref.store %one, %arg0[] : memref<f32>
    func.return
  }

  // CHECK-LABEL: void aj_exp(float *restrict arg0) {
  func.func @exp(%arg0 : memref<f32>) {
    %one = arith.constant 1.0 : f32
    memref.store %one, %arg0[] : memref<f32>
    func.return
  }

  // CHECK-LABEL: void aj_my_x2e_kernel(float *restrict arg0) {
  func.func @"my.kernel"(%arg0 : memref<f32>) {
    %one = arith.constant 1.0 : f32
    memref.store %one, %arg0[] : memref<f32>
    func.return
  }
}
