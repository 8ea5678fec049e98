// RUN: aidjit-opt %s -t c | filecheck %s

// scf.parallel (from parallelize-outer-loops) is a for loop under `omp parallel for`, on the
// aidjit.num_threads threads recorded in the IR. An innermost loop (the one gcc vectorises)
// gets chunks of a multiple of 1024 iterations, so the same elements reach the vector
// epilogue whatever the thread count; a loop with loops inside gets plain static blocks.
// Without the attribute it is a serial loop.

builtin.module {
  // CHECK-LABEL: void elementwise(const float *restrict arg0, float *restrict arg1) {
  // CHECK-NEXT:    #pragma omp parallel for schedule(static, 2048) num_threads(2)
  // CHECK-NEXT:    for (int64_t [[I:i[0-9]+]] = 0; [[I]] < 3000; [[I]]++) {
  // CHECK-NEXT:      const float [[V:v[0-9]+]] = arg0{{\[}}[[I]]];
  // CHECK-NEXT:      const float [[W:v[0-9]+]] = -[[V]];
  // CHECK-NEXT:      arg1{{\[}}[[I]]] = [[W]];
  // CHECK-NEXT:    }
  func.func @elementwise(%x: memref<3000xf32>, %y: memref<3000xf32>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %n = arith.constant 3000 : index
    "scf.parallel"(%c0, %n, %c1) <{operandSegmentSizes = array<i32: 1, 1, 1, 0>}> ({
    ^bb0(%i: index):
      %v = memref.load %x[%i] : memref<3000xf32>
      %w = arith.negf %v : f32
      memref.store %w, %y[%i] : memref<3000xf32>
      scf.reduce
    }) {aidjit.num_threads = 2 : i64} : (index, index, index) -> ()
    func.return
  }

  // CHECK-LABEL: void rows(const float *restrict arg0, float *restrict arg1) {
  // CHECK-NEXT:    #pragma omp parallel for schedule(static) num_threads(4)
  // CHECK-NEXT:    for (int64_t [[I:i[0-9]+]] = 0; [[I]] < 8; [[I]]++) {
  // CHECK-NEXT:      for (int64_t [[J:i[0-9]+]] = 0; [[J]] < 16; [[J]]++) {
  func.func @rows(%x: memref<8x16xf32>, %y: memref<8x16xf32>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c8 = arith.constant 8 : index
    %c16 = arith.constant 16 : index
    "scf.parallel"(%c0, %c8, %c1) <{operandSegmentSizes = array<i32: 1, 1, 1, 0>}> ({
    ^bb0(%i: index):
      scf.for %j = %c0 to %c16 step %c1 {
        %v = memref.load %x[%i, %j] : memref<8x16xf32>
        memref.store %v, %y[%i, %j] : memref<8x16xf32>
      }
      scf.reduce
    }) {aidjit.num_threads = 4 : i64} : (index, index, index) -> ()
    func.return
  }

  // CHECK-LABEL: void serial(const float *restrict arg0, float *restrict arg1) {
  // CHECK-NOT:     #pragma
  // CHECK:         for (int64_t [[I:i[0-9]+]] = 0; [[I]] < 8; [[I]]++) {
  func.func @serial(%x: memref<8xf32>, %y: memref<8xf32>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c8 = arith.constant 8 : index
    "scf.parallel"(%c0, %c8, %c1) <{operandSegmentSizes = array<i32: 1, 1, 1, 0>}> ({
    ^bb0(%i: index):
      %v = memref.load %x[%i] : memref<8xf32>
      memref.store %v, %y[%i] : memref<8xf32>
      scf.reduce
    }) : (index, index, index) -> ()
    func.return
  }
}
