// RUN: aidjit-opt %s --split-input-file -p 'parallelize-outer-loops{threads=2 min-work=64}' | filecheck %s
// RUN: aidjit-opt %s --split-input-file -p 'parallelize-outer-loops{threads=2}' | filecheck %s --check-prefix=DEFAULT
// RUN: aidjit-opt %s --split-input-file -p parallelize-outer-loops | filecheck %s --check-prefix=ONE

// Loop-level input as convert-linalg-to-fused-loops makes it (xDSL 0.74 prints scf.parallel in
// its generic form). With min-work=64 every loop but the tiny one has enough work: the test is
// about which loops are independent. With the default minimum (2^18 units) these small loops
// all stay serial; with threads=1 (the pass's default) nothing changes.

// An elementwise loop: iteration i writes y[i] and reads x[i] only.
// CHECK-LABEL: func.func @elementwise
// CHECK-SAME: (%[[X:.*]]: memref<64xf32>, %[[Y:.*]]: memref<64xf32>)
// CHECK: "scf.parallel"(%[[LB:.*]], %[[UB:.*]], %[[STEP:.*]]) <{operandSegmentSizes = array<i32: 1, 1, 1, 0>}> ({
// CHECK-NEXT: ^{{.*}}(%[[I:.*]]: index):
// CHECK-NEXT: %[[V:.*]] = memref.load %[[X]][%[[I]]]
// CHECK-NEXT: %[[E:.*]] = math.exp %[[V]]
// CHECK-NEXT: memref.store %[[E]], %[[Y]][%[[I]]]
// CHECK-NEXT: scf.reduce
// CHECK-NEXT: }) {aidjit.num_threads = 2 : i64} : (index, index, index) -> ()
// DEFAULT-LABEL: func.func @elementwise
// DEFAULT-NOT: scf.parallel
// ONE-LABEL: func.func @elementwise
// ONE-NOT: scf.parallel
func.func @elementwise(%x: memref<64xf32>, %y: memref<64xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  scf.for %i = %c0 to %c64 step %c1 {
    %v = memref.load %x[%i] : memref<64xf32>
    %e = math.exp %v : f32
    memref.store %e, %y[%i] : memref<64xf32>
  }
  func.return
}

// -----

// A row loop over a 2-D row sum: rows are independent; the reduction inside a row (the inner
// loop over %j, which reads and writes s[i] at every j) stays an scf.for.
// CHECK-LABEL: func.func @row_sum
// CHECK: "scf.parallel"
// CHECK-NEXT: ^{{.*}}(%[[I:.*]]: index):
// CHECK: scf.for %[[J:.*]] =
// CHECK: memref.store %{{.*}}, %{{.*}}[%[[I]]]
// CHECK: scf.reduce
func.func @row_sum(%x: memref<16x32xf32>, %s: memref<16xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c16 = arith.constant 16 : index
  %c32 = arith.constant 32 : index
  %zero = arith.constant 0.0 : f32
  scf.for %i = %c0 to %c16 step %c1 {
    memref.store %zero, %s[%i] : memref<16xf32>
    scf.for %j = %c0 to %c32 step %c1 {
      %v = memref.load %x[%i, %j] : memref<16x32xf32>
      %acc = memref.load %s[%i] : memref<16xf32>
      %sum = arith.addf %acc, %v : f32
      memref.store %sum, %s[%i] : memref<16xf32>
    }
  }
  func.return
}

// -----

// A column sum: the outer loop is the reduced dim (every iteration adds into all of s), so it
// stays serial: a sum is never split across threads.
// CHECK-LABEL: func.func @column_sum
// CHECK-NOT: scf.parallel
// CHECK: scf.for
func.func @column_sum(%x: memref<16x32xf32>, %s: memref<32xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c16 = arith.constant 16 : index
  %c32 = arith.constant 32 : index
  scf.for %i = %c0 to %c16 step %c1 {
    scf.for %j = %c0 to %c32 step %c1 {
      %v = memref.load %x[%i, %j] : memref<16x32xf32>
      %acc = memref.load %s[%j] : memref<32xf32>
      %sum = arith.addf %acc, %v : f32
      memref.store %sum, %s[%j] : memref<32xf32>
    }
  }
  func.return
}

// -----

// A loop that carries its sum in iter_args stays serial too.
// CHECK-LABEL: func.func @carried
// CHECK-NOT: scf.parallel
// CHECK: scf.for {{.*}} iter_args
func.func @carried(%x: memref<256xf32>, %s: memref<f32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c256 = arith.constant 256 : index
  %zero = arith.constant 0.0 : f32
  %total = scf.for %i = %c0 to %c256 step %c1 iter_args(%acc = %zero) -> (f32) {
    %v = memref.load %x[%i] : memref<256xf32>
    %next = arith.addf %acc, %v : f32
    scf.yield %next : f32
  }
  memref.store %total, %s[] : memref<f32>
  func.return
}

// -----

// Row loops over workspace temporaries. In @row_temporary each row writes its own row of the
// temporary (a view of bytes 0-511, indexed by the row): independent. In @shared_temporary
// every row reuses one 32-float buffer of the workspace: two rows would write the same bytes,
// so the loop stays serial.
// CHECK-LABEL: func.func @row_temporary
// CHECK: "scf.parallel"
// CHECK-LABEL: func.func @shared_temporary
// CHECK-NOT: scf.parallel
// CHECK: func.return
func.func @row_temporary(%x: memref<4x32xf32>, %y: memref<4x32xf32>, %workspace: memref<512xi8>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c32 = arith.constant 32 : index
  %t = memref.view %workspace[%c0][] : memref<512xi8> to memref<4x32xf32>
  scf.for %i = %c0 to %c4 step %c1 {
    scf.for %j = %c0 to %c32 step %c1 {
      %v = memref.load %x[%i, %j] : memref<4x32xf32>
      %e = math.exp %v : f32
      memref.store %e, %t[%i, %j] : memref<4x32xf32>
    }
    scf.for %j = %c0 to %c32 step %c1 {
      %e = memref.load %t[%i, %j] : memref<4x32xf32>
      memref.store %e, %y[%i, %j] : memref<4x32xf32>
    }
  }
  func.return
}
func.func @shared_temporary(%x: memref<4x32xf32>, %y: memref<4x32xf32>, %workspace: memref<128xi8>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c32 = arith.constant 32 : index
  %t = memref.view %workspace[%c0][] : memref<128xi8> to memref<32xf32>
  scf.for %i = %c0 to %c4 step %c1 {
    scf.for %j = %c0 to %c32 step %c1 {
      %v = memref.load %x[%i, %j] : memref<4x32xf32>
      %e = math.exp %v : f32
      memref.store %e, %t[%j] : memref<32xf32>
    }
    scf.for %j = %c0 to %c32 step %c1 {
      %e = memref.load %t[%j] : memref<32xf32>
      memref.store %e, %y[%i, %j] : memref<4x32xf32>
    }
  }
  func.return
}

// -----

// Two temporaries at overlapping bytes of the workspace (the planner never does this inside
// one loop; the pass checks rather than trusts it): row i writes a[i] and reads b[i + 1] =
// the bytes row i + 1 writes, so the loop stays serial.
// CHECK-LABEL: func.func @overlapping_views
// CHECK-NOT: scf.parallel
// CHECK: func.return
func.func @overlapping_views(%y: memref<4x8xf32>, %workspace: memref<160xi8>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c8 = arith.constant 8 : index
  %c32 = arith.constant 32 : index
  %a = memref.view %workspace[%c0][] : memref<160xi8> to memref<4x8xf32>
  %b = memref.view %workspace[%c32][] : memref<160xi8> to memref<4x8xf32>
  %one = arith.constant 1.0 : f32
  scf.for %i = %c0 to %c4 step %c1 {
    scf.for %j = %c0 to %c8 step %c1 {
      memref.store %one, %a[%i, %j] : memref<4x8xf32>
      %v = memref.load %b[%i, %j] : memref<4x8xf32>
      memref.store %v, %y[%i, %j] : memref<4x8xf32>
    }
  }
  func.return
}

// -----

// A stencil: iteration i reads x[i + 1], which iteration i + 1 writes.
// CHECK-LABEL: func.func @shifted
// CHECK-NOT: scf.parallel
// CHECK: func.return
func.func @shifted(%x: memref<65xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  scf.for %i = %c0 to %c64 step %c1 {
    %next = arith.addi %i, %c1 : index
    %v = memref.load %x[%next] : memref<65xf32>
    memref.store %v, %x[%i] : memref<65xf32>
  }
  func.return
}

// -----

// Too little work (2 iterations x 3 units < min-work=64): serial.
// CHECK-LABEL: func.func @tiny
// CHECK-NOT: scf.parallel
// CHECK: func.return
func.func @tiny(%x: memref<2xf32>, %y: memref<2xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  scf.for %i = %c0 to %c2 step %c1 {
    %v = memref.load %x[%i] : memref<2xf32>
    %w = arith.negf %v : f32
    memref.store %w, %y[%i] : memref<2xf32>
  }
  func.return
}

// -----

// Work counts a vector store's lanes, as it counts a load's: a copy of 4 rows of 8 lanes is
// 4 x (8 loaded + 8 stored) = 64 units, enough; the copy of 3 rows, 48 units, is not. (With a
// store counted as one unit, a vectorised copy weighed half its scalar loop.)
// CHECK-LABEL: func.func @vector_copies
// CHECK: "scf.parallel"
// CHECK: vector.store
// CHECK: scf.reduce
// CHECK: scf.for
// CHECK-NOT: scf.parallel
// CHECK: func.return
func.func @vector_copies(%x: memref<4x8xf32>, %y: memref<4x8xf32>, %z: memref<3x8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  %c4 = arith.constant 4 : index
  scf.for %i = %c0 to %c4 step %c1 {
    %v = vector.load %x[%i, %c0] : memref<4x8xf32>, vector<8xf32>
    vector.store %v, %y[%i, %c0] : memref<4x8xf32>, vector<8xf32>
  }
  scf.for %i = %c0 to %c3 step %c1 {
    %v = vector.load %x[%i, %c0] : memref<4x8xf32>, vector<8xf32>
    vector.store %v, %z[%i, %c0] : memref<3x8xf32>, vector<8xf32>
  }
  func.return
}

// -----

// A stack buffer allocated inside the loop (a packed panel of tile-contractions) belongs to
// one iteration: the C declares it in the loop body, one per thread. Rows step by 2.
// CHECK-LABEL: func.func @private_panel
// CHECK: "scf.parallel"
// CHECK: memref.alloca
func.func @private_panel(%x: memref<8x16xf32>, %y: memref<8x16xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c8 = arith.constant 8 : index
  %c16 = arith.constant 16 : index
  scf.for %i = %c0 to %c8 step %c2 {
    %panel = memref.alloca() {alignment = 64 : i64} : memref<2x16xf32>
    scf.for %r = %c0 to %c2 step %c1 {
      %row = arith.addi %i, %r : index
      scf.for %j = %c0 to %c16 step %c1 {
        %v = memref.load %x[%row, %j] : memref<8x16xf32>
        memref.store %v, %panel[%r, %j] : memref<2x16xf32>
      }
    }
    scf.for %r = %c0 to %c2 step %c1 {
      %row = arith.addi %i, %r : index
      scf.for %j = %c0 to %c16 step %c1 {
        %v = memref.load %panel[%r, %j] : memref<2x16xf32>
        memref.store %v, %y[%row, %j] : memref<8x16xf32>
      }
    }
  }
  func.return
}

// -----

// Rows of 10 elements read and written as one 16-lane vector masked to its first 10 lanes
// (tile-contractions' narrow columns): a masked access covers only the lanes of its constant
// mask, so the rows do not overlap and the loop runs in parallel; creating the mask touches no
// memory.
// CHECK-LABEL: func.func @masked_rows
// CHECK: "scf.parallel"
// CHECK: vector.create_mask
// CHECK: vector.maskedload
// CHECK: vector.maskedstore
// CHECK: scf.reduce
// DEFAULT-LABEL: func.func @masked_rows
// ONE-LABEL: func.func @masked_rows
func.func @masked_rows(%x: memref<4096x10xf32>, %y: memref<4096x10xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c10 = arith.constant 10 : index
  %c4096 = arith.constant 4096 : index
  %zeros = arith.constant dense<0.0> : vector<16xf32>
  scf.for %i = %c0 to %c4096 step %c1 {
    %mask = vector.create_mask %c10 : vector<16xi1>
    %v = vector.maskedload %x[%i, %c0], %mask, %zeros : memref<4096x10xf32>, vector<16xi1>, vector<16xf32> into vector<16xf32>
    %w = arith.addf %v, %v : vector<16xf32>
    vector.maskedstore %y[%i, %c0], %mask, %w : memref<4096x10xf32>, vector<16xi1>, vector<16xf32>
  }
  func.return
}
