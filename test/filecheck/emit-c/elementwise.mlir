// RUN: aidjit-opt %s -t c | filecheck %s

// Elementwise loops: strided loads and stores, one const per value, libm declared SIMD-callable
// (glibc's libmvec) so gcc vectorises the loop without a loop pragma.

// CHECK:      #pragma omp declare simd notinbranch
// CHECK-NEXT: #endif
// CHECK-NEXT: extern float tanhf(float) __attribute__((const));
// The maximum helper tells +0 from -0 by arithmetic, never by sign bit: gcc 12.2 crashes
// vectorising `signbit` of a value it knows is non-negative (see emit_c._HELPERS); it selects
// with masks on the bits (int64 for double), so it has no branch.
// CHECK:      static inline double aidjit_maximum_f64(double a, double b) {
// CHECK-NEXT:     const double sum = a + b;
// CHECK-NEXT:     const int64_t greater = -(int64_t)(a > b), zeros = -(int64_t)((a == 0) & (b == 0));
// CHECK-NEXT:     const int64_t nan = -(int64_t)((a != a) | (b != b));
// CHECK-NEXT:     int64_t x, y, s, bits;
// CHECK:          bits = (((x & greater) | (y & ~greater)) & ~zeros) | (s & zeros);
// CHECK-NEXT:     bits = (s & nan) | (bits & ~nan);
// CHECK-NOT:      ?
// CHECK:          return result;
// CHECK-NEXT: }

builtin.module {
  // CHECK-LABEL: void tanh_bias(const float *restrict arg0, const float *restrict arg1, float *restrict arg2) {
  // CHECK:         for (int64_t [[I:i[0-9]+]] = 0; [[I]] < 4; [[I]]++) {
  // CHECK-NEXT:      for (int64_t [[J:i[0-9]+]] = 0; [[J]] < 3; [[J]]++) {
  // CHECK-NEXT:        const float [[X:v[0-9]+]] = arg0{{\[}}[[I]] * 3 + [[J]]];
  // CHECK-NEXT:        const float [[B:v[0-9]+]] = arg1{{\[}}[[J]]];
  // CHECK-NEXT:        const float [[S:v[0-9]+]] = [[X]] + [[B]];
  // CHECK-NEXT:        const float [[T:v[0-9]+]] = tanhf([[S]]);
  // CHECK-NEXT:        arg2{{\[}}[[I]] * 3 + [[J]]] = [[T]];
  func.func @tanh_bias(%arg0 : memref<4x3xf32>, %arg1 : memref<3xf32>, %arg2 : memref<4x3xf32>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c3 = arith.constant 3 : index
    %c4 = arith.constant 4 : index
    scf.for %i = %c0 to %c4 step %c1 {
      scf.for %j = %c0 to %c3 step %c1 {
        %x = memref.load %arg0[%i, %j] : memref<4x3xf32>
        %b = memref.load %arg1[%j] : memref<3xf32>
        %s = arith.addf %x, %b : f32
        %t = math.tanh %s : f32
        memref.store %t, %arg2[%i, %j] : memref<4x3xf32>
      }
    }
    func.return
  }

  // NaN-propagating maximum through a helper; an unordered comparison through <math.h>.
  // CHECK-LABEL: void relu_or_nan(const double *restrict arg0, double *restrict arg1, int64_t *restrict arg2) {
  // CHECK:         const double [[X:v[0-9]+]] = arg0{{\[}}[[I:i[0-9]+]]];
  // CHECK-NEXT:    const double [[M:v[0-9]+]] = aidjit_maximum_f64([[X]], 0.0);
  // CHECK:         const bool [[U:v[0-9]+]] = isunordered([[X]], [[X]]);
  // CHECK-NEXT:    const int64_t [[N:v[0-9]+]] = [[U]] ? 1 : 0;
  func.func @relu_or_nan(%arg0 : memref<8xf64>, %arg1 : memref<8xf64>, %arg2 : memref<8xi64>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c8 = arith.constant 8 : index
    %zero = arith.constant 0.0 : f64
    %one = arith.constant 1 : i64
    %none = arith.constant 0 : i64
    scf.for %i = %c0 to %c8 step %c1 {
      %x = memref.load %arg0[%i] : memref<8xf64>
      %m = arith.maximumf %x, %zero : f64
      memref.store %m, %arg1[%i] : memref<8xf64>
      %u = arith.cmpf uno, %x, %x : f64
      %n = arith.select %u, %one, %none : i64
      memref.store %n, %arg2[%i] : memref<8xi64>
    }
    func.return
  }
}
