// RUN: aidjit-opt %s -t c | filecheck %s

// vector<16xf32> values are GCC vector typedefs (with their mask twins); loads and stores go
// through unaligned helpers, comparisons give integer lanes that arith.select blends through
// (a select that is a min or max of the compared values is vector-min-max.mlir's),
// vector.fma is the ISA's intrinsic (behind a guard that names the flags it needs), and
// vector.reduction folds lanes in order into the accumulator.

// CHECK: #include <immintrin.h>
// CHECK-NEXT: #ifndef __AVX512F__
// CHECK-NEXT: #error "aidjit: this kernel uses 512-bit vectors
// CHECK: typedef float aidjit_v16f32 __attribute__((vector_size(64)));
// CHECK-NEXT: typedef int32_t aidjit_v16i32 __attribute__((vector_size(64)));
// CHECK: static inline aidjit_v16f32 aidjit_load_v16f32(const float *p) {
// CHECK: static inline float aidjit_reduce_add_v16f32(aidjit_v16f32 v, float acc) {
// CHECK-NEXT: for (int lane = 0; lane < 16; lane++) acc = acc + v[lane];
// CHECK-LABEL: void f(const float *restrict arg0, float *restrict arg1, float *restrict arg2) {
// CHECK: aidjit_v16f32 [[ACC:v[0-9]+]] = ((aidjit_v16f32){0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f});
// CHECK-NEXT: for (int64_t [[I:i[0-9]+]] = 0; [[I]] < 64; [[I]] += 16) {
// CHECK-NEXT: const aidjit_v16f32 [[V:v[0-9]+]] = aidjit_load_v16f32(&arg0{{\[}}[[I]]]);
// CHECK-NEXT: const aidjit_v16i32 [[M:v[0-9]+]] = [[V]] <= [[ACC]];
// CHECK-NEXT: const aidjit_v16f32 [[S:v[0-9]+]] = (aidjit_v16f32)(((aidjit_v16i32)[[V]] & [[M]]) | ((aidjit_v16i32)[[ACC]] & ~[[M]]));
// CHECK-NEXT: const aidjit_v16f32 [[F:v[0-9]+]] = _mm512_fmadd_ps([[S]], [[V]], [[ACC]]);
// CHECK-NEXT: aidjit_store_v16f32(&arg1{{\[}}[[I]]], [[F]]);
// CHECK-NEXT: [[ACC]] = [[F]];
// CHECK: const float [[R:v[0-9]+]] = aidjit_reduce_add_v16f32([[ACC]], (float)-0.0);
// CHECK-NEXT: const aidjit_v16f32 [[B:v[0-9]+]] = (aidjit_v16f32){[[R]], [[R]],
// CHECK: arg2[0] = [[R]];
func.func @f(%x: memref<64xf32>, %y: memref<64xf32>, %s: memref<1xf32>) {
  %c0 = arith.constant 0 : index
  %c16 = arith.constant 16 : index
  %c64 = arith.constant 64 : index
  %z = arith.constant dense<0.0> : vector<16xf32>
  %acc = scf.for %i = %c0 to %c64 step %c16 iter_args(%a = %z) -> (vector<16xf32>) {
    %v = vector.load %x[%i] : memref<64xf32>, vector<16xf32>
    %c = arith.cmpf ole, %v, %a : vector<16xf32>
    %sel = arith.select %c, %v, %a : vector<16xi1>, vector<16xf32>
    %f = vector.fma %sel, %v, %a : vector<16xf32>
    vector.store %f, %y[%i] : memref<64xf32>, vector<16xf32>
    scf.yield %f : vector<16xf32>
  }
  %r = vector.reduction <add>, %acc : vector<16xf32> into f32
  %b = vector.broadcast %r : f32 to vector<16xf32>
  memref.store %r, %s[%c0] : memref<1xf32>
  func.return
}
