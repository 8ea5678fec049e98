// RUN: aidjit-opt %s -t c | filecheck %s

// scf.parallel (from parallelize-outer-loops) on aidjit.num_threads > 1 threads becomes a
// static function over a range of its iterations, a context struct holding what it reads
// and writes, and a chunk function turning a chunk's number into its range; the function body
// hands the chunks to the thread pool through `aidjit_parallel`, whose pointer the loader sets.
// An innermost loop (the one gcc vectorises) gets chunks of a multiple of 1024 iterations, so
// the same elements reach the vector epilogue whatever the thread count; a loop with loops
// inside gets chunks of whole iterations, as many as finish together on the threads. Without
// the attribute, or with bounds that are not constants, it is a serial loop.

// CHECK:      typedef void (*aidjit_chunk_fn)(void *context, int64_t chunk);
// CHECK-NEXT: void (*aidjit_thread_pool)(aidjit_chunk_fn, void *, int64_t, int32_t) = 0;
// CHECK:          for (int64_t c = 0; c < chunks; c++) chunk(context, c);

builtin.module {
  // CHECK-LABEL: __attribute__((noinline)) static void aidjit_elementwise_nest0(const float *restrict p0, float *restrict p1, int64_t p2, int64_t p3) {
  // CHECK-NEXT:    for (int64_t [[I:i[0-9]+]] = p2; [[I]] < p3; [[I]]++) {
  // CHECK-NEXT:      const float [[V:v[0-9]+]] = p0{{\[}}[[I]]];
  // CHECK-NEXT:      const float [[W:v[0-9]+]] = -[[V]];
  // CHECK-NEXT:      p1{{\[}}[[I]]] = [[W]];
  // CHECK-NEXT:    }
  // CHECK-NEXT:  }
  // CHECK:       struct aidjit_elementwise_nest0_context {
  // CHECK-NEXT:      const float *p0;
  // CHECK-NEXT:      float *p1;
  // CHECK-NEXT:  };
  // CHECK:       static void aidjit_elementwise_nest0_chunk(void *context, int64_t chunk) {
  // CHECK-NEXT:      const struct aidjit_elementwise_nest0_context *fields = context;
  // CHECK-NEXT:      const int64_t first = 0 + chunk * 1024;
  // CHECK-NEXT:      const int64_t end = first + 1024 < 3000 ? first + 1024 : 3000;
  // CHECK-NEXT:      aidjit_elementwise_nest0(fields->p0, fields->p1, first, end);
  // CHECK-NEXT:  }
  // CHECK:       void elementwise(const float *restrict arg0, float *restrict arg1) {
  // CHECK-NEXT:      {
  // CHECK-NEXT:          struct aidjit_elementwise_nest0_context aidjit_context = {arg0, arg1};
  // CHECK-NEXT:          aidjit_parallel(aidjit_elementwise_nest0_chunk, &aidjit_context, 3, 2);
  // CHECK-NEXT:      }
  // CHECK-NEXT:  }
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

  // 42 row blocks of 6 rows on two threads: 14 chunks of 3 blocks (18 rows) finish together,
  // where 21 chunks of 2 would leave one thread a chunk alone.
  // CHECK-LABEL: __attribute__((noinline)) static void aidjit_rows_nest0(const float *restrict p0, float *restrict p1, int64_t p2, int64_t p3) {
  // CHECK-NEXT:    for (int64_t [[I:i[0-9]+]] = p2; [[I]] < p3; [[I]] += 6) {
  // CHECK-NEXT:      for (int64_t [[J:i[0-9]+]] = 0; [[J]] < 16; [[J]]++) {
  // CHECK:       static void aidjit_rows_nest0_chunk(void *context, int64_t chunk) {
  // CHECK:           const int64_t first = 0 + chunk * 18;
  // CHECK-NEXT:      const int64_t end = first + 18 < 252 ? first + 18 : 252;
  // CHECK:       void rows(const float *restrict arg0, float *restrict arg1) {
  // CHECK:           aidjit_parallel(aidjit_rows_nest0_chunk, &aidjit_context, 14, 2);
  func.func @rows(%x: memref<252x16xf32>, %y: memref<252x16xf32>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c6 = arith.constant 6 : index
    %c16 = arith.constant 16 : index
    %c252 = arith.constant 252 : index
    "scf.parallel"(%c0, %c252, %c6) <{operandSegmentSizes = array<i32: 1, 1, 1, 0>}> ({
    ^bb0(%i: index):
      scf.for %j = %c0 to %c16 step %c1 {
        %v = memref.load %x[%i, %j] : memref<252x16xf32>
        memref.store %v, %y[%i, %j] : memref<252x16xf32>
      }
      scf.reduce
    }) {aidjit.num_threads = 2 : i64} : (index, index, index) -> ()
    func.return
  }

  // CHECK-LABEL: void serial(const float *restrict arg0, float *restrict arg1) {
  // CHECK-NEXT:    for (int64_t [[I:i[0-9]+]] = 0; [[I]] < 8; [[I]]++) {
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

  // CHECK-LABEL: void dynamic_bounds(const float *restrict arg0, float *restrict arg1, const int64_t *restrict arg2) {
  // CHECK-NOT:     aidjit_parallel
  // CHECK:         for (int64_t [[I:i[0-9]+]] = 0; [[I]] < [[N:v[0-9]+]]; [[I]]++) {
  func.func @dynamic_bounds(%x: memref<8xf32>, %y: memref<8xf32>, %m: memref<i64>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %count = memref.load %m[] : memref<i64>
    %n = arith.index_cast %count : i64 to index
    "scf.parallel"(%c0, %n, %c1) <{operandSegmentSizes = array<i32: 1, 1, 1, 0>}> ({
    ^bb0(%i: index):
      %v = memref.load %x[%i] : memref<8xf32>
      memref.store %v, %y[%i] : memref<8xf32>
      scf.reduce
    }) {aidjit.num_threads = 2 : i64} : (index, index, index) -> ()
    func.return
  }
}
