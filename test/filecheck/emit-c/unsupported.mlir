// RUN: not aidjit-opt %s -t c 2>&1 | filecheck %s

// An op the C emitter has no template for is reported at its own line, like a verifier error.

func.func @f(%a: memref<4xf32>, %o: memref<4xf32>) {
  %c0 = arith.constant 0 : index
  %v = memref.load %a[%c0] : memref<4xf32>
  %w = math.atan %v : f32
  memref.store %w, %o[%c0] : memref<4xf32>
  func.return
}
// CHECK: unsupported.mlir:8:3: error: C emitter does not support 'math.atan'
// CHECK-NEXT: %w = math.atan %v : f32
