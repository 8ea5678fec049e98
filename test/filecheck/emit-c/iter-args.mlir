// RUN: aidjit-opt %s -t c | filecheck %s

// scf.for iter_args become variables declared before the loop and assigned at the yield;
// loop results read them afterwards. Several at once go through temporaries, so a swap swaps.

builtin.module {
  // CHECK-LABEL: void row_sum(const double *restrict arg0, double *restrict arg1) {
  // CHECK:         for (int64_t [[I:i[0-9]+]] = 0; [[I]] < 5; [[I]]++) {
  // CHECK-NEXT:      double [[ACC:v[0-9]+]] = 0.0;
  // CHECK-NEXT:      for (int64_t [[J:i[0-9]+]] = 0; [[J]] < 7; [[J]]++) {
  // CHECK-NEXT:        const double [[X:v[0-9]+]] = arg0{{\[}}[[I]] * 7 + [[J]]];
  // CHECK-NEXT:        const double [[NEXT:v[0-9]+]] = [[ACC]] + [[X]];
  // CHECK-NEXT:        [[ACC]] = [[NEXT]];
  // CHECK-NEXT:      }
  // CHECK-NEXT:      arg1{{\[}}[[I]]] = [[ACC]];
  func.func @row_sum(%arg0 : memref<5x7xf64>, %arg1 : memref<5xf64>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c5 = arith.constant 5 : index
    %c7 = arith.constant 7 : index
    %zero = arith.constant 0.0 : f64
    scf.for %i = %c0 to %c5 step %c1 {
      %sum = scf.for %j = %c0 to %c7 step %c1 iter_args(%acc = %zero) -> (f64) {
        %x = memref.load %arg0[%i, %j] : memref<5x7xf64>
        %next = arith.addf %acc, %x : f64
        scf.yield %next : f64
      }
      memref.store %sum, %arg1[%i] : memref<5xf64>
    }
    func.return
  }

  // CHECK-LABEL: void fibonacci(const double *restrict arg0, double *restrict arg1) {
  // CHECK:         double [[A:v[0-9]+]] = {{v[0-9]+}};
  // CHECK-NEXT:    double [[B:v[0-9]+]] = {{v[0-9]+}};
  // CHECK-NEXT:    for (int64_t [[K:i[0-9]+]] = 0; [[K]] < 10; [[K]]++) {
  // CHECK-NEXT:      const double [[SUM:v[0-9]+]] = [[A]] + [[B]];
  // CHECK-NEXT:      const double [[T0:v[0-9]+]] = [[B]];
  // CHECK-NEXT:      const double [[T1:v[0-9]+]] = [[SUM]];
  // CHECK-NEXT:      [[A]] = [[T0]];
  // CHECK-NEXT:      [[B]] = [[T1]];
  // CHECK-NEXT:    }
  // CHECK-NEXT:    arg1[0] = [[A]];
  func.func @fibonacci(%arg0 : memref<2xf64>, %arg1 : memref<2xf64>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c10 = arith.constant 10 : index
    %a0 = memref.load %arg0[%c0] : memref<2xf64>
    %b0 = memref.load %arg0[%c1] : memref<2xf64>
    %r:2 = scf.for %k = %c0 to %c10 step %c1 iter_args(%a = %a0, %b = %b0) -> (f64, f64) {
      %sum = arith.addf %a, %b : f64
      scf.yield %b, %sum : f64, f64
    }
    memref.store %r#0, %arg1[%c0] : memref<2xf64>
    memref.store %r#1, %arg1[%c1] : memref<2xf64>
    func.return
  }
}
