// RUN: aidjit-opt %s -t c | filecheck %s

// Constant globals are hidden, neither static nor const (gcc 12.2 -march=native miscompiles
// loads it folds from a known initializer; see emit_c.GLOBAL_STORAGE), and read through a
// const pointer; allocations are 64-byte aligned with the size rounded up to a multiple of
// 64; rank-0 memrefs are element [0].

// CHECK: void *aligned_alloc(size_t alignment, size_t size);
// CHECK: {{^}}__attribute__((visibility("hidden"))) float cst0[4] = {1.0f, -2.5f, 0.1f, 1e-45f};

builtin.module {
  "memref.global"() <{sym_name = "cst0", sym_visibility = "private", type = memref<2x2xf32>,
    initial_value = dense<[[1.0, -2.5], [0.1, 1.0e-45]]> : tensor<2x2xf32>, constant}> : () -> ()

  // CHECK-LABEL: void scale(const float *restrict arg0, const float *restrict arg1, float *restrict arg2) {
  // CHECK-NEXT:    const float *[[G:v[0-9]+]] = cst0;
  // CHECK-NEXT:    const float [[S:v[0-9]+]] = arg1[0];
  // CHECK-NEXT:    float *restrict [[T:v[0-9]+]] = aligned_alloc(64, 64);
  // CHECK:         const float {{v[0-9]+}} = [[G]]{{\[}}[[I:i[0-9]+]] * 2 + [[J:i[0-9]+]]];
  // CHECK:         [[T]]{{\[}}[[I]] * 2 + [[J]]] = {{v[0-9]+}};
  // CHECK:         free([[T]]);
  func.func @scale(%arg0 : memref<2x2xf32>, %arg1 : memref<f32>, %arg2 : memref<2x2xf32>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %g = memref.get_global @cst0 : memref<2x2xf32>
    %s = memref.load %arg1[] : memref<f32>
    %tmp = memref.alloc() {alignment = 64 : i64} : memref<2x2xf32>
    scf.for %i = %c0 to %c2 step %c1 {
      scf.for %j = %c0 to %c2 step %c1 {
        %x = memref.load %arg0[%i, %j] : memref<2x2xf32>
        %y = memref.load %g[%i, %j] : memref<2x2xf32>
        %p = arith.mulf %x, %y : f32
        %q = arith.mulf %p, %s : f32
        memref.store %q, %tmp[%i, %j] : memref<2x2xf32>
        memref.store %q, %arg2[%i, %j] : memref<2x2xf32>
      }
    }
    memref.dealloc %tmp : memref<2x2xf32>
    func.return
  }
}
