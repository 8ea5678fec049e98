// RUN: aidjit-opt %s --split-input-file -p vectorize-loops | filecheck %s
// RUN: aidjit-opt %s --split-input-file -p 'vectorize-loops{vector-bytes=32}' | filecheck %s --check-prefix=AVX2
// RUN: aidjit-opt %s --split-input-file -p 'vectorize-loops{vector-bytes=0}' | filecheck %s --check-prefix=OFF

// Loop-level inputs as convert-linalg-to-fused-loops writes them. By default a vector is 64
// bytes (AVX-512): 16 lanes of f32, 8 of f64; AVX2 checks use 32 bytes.

// Elementwise f32 over 100 columns: a vector loop over 96 (6 steps of 16, so not unrolled),
// the constant as a splat made once before it, exp on vectors (expand-math expands it next),
// then the original loop over the last 4 columns.
// CHECK-LABEL: func.func @elementwise_tail
// CHECK-DAG: %[[C16:.*]] = arith.constant 16 : index
// CHECK-DAG: %[[C96:.*]] = arith.constant 96 : index
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK: scf.for %[[R:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK-NEXT: %[[TWO:.*]] = arith.constant dense<2.000000e+00> : vector<16xf32>
// CHECK-NEXT: scf.for %[[I:.*]] = %[[C0]] to %[[C96]] step %[[C16]] {
// CHECK-NEXT: %[[A:.*]] = vector.load %{{.*}}[%[[R]], %[[I]]] : memref<4x100xf32>, vector<16xf32>
// CHECK-NEXT: %[[B:.*]] = arith.mulf %[[A]], %[[TWO]] : vector<16xf32>
// CHECK-NEXT: %[[E:.*]] = math.exp %[[B]] : vector<16xf32>
// CHECK-NEXT: vector.store %[[E]], %{{.*}}[%[[R]], %[[I]]] : memref<4x100xf32>, vector<16xf32>
// CHECK-NEXT: }
// CHECK-NEXT: scf.for %[[J:.*]] = %[[C96]] to %c100 step %c1 {
// CHECK-NEXT: memref.load %{{.*}}[%[[R]], %[[J]]] : memref<4x100xf32>
// CHECK-NEXT: arith.mulf %{{.*}}, %two : f32
// CHECK-NEXT: math.exp %{{.*}} : f32
// AVX2-LABEL: func.func @elementwise_tail
// AVX2: arith.constant dense<2.000000e+00> : vector<8xf32>
// AVX2-NEXT: scf.for %{{.*}} = %{{.*}} to %[[C96:.*]] step %{{.*}} {
// AVX2: vector.load {{.*}} vector<8xf32>
// AVX2: scf.for %{{.*}} = %[[C96]] to %c100 step %c1 {
// OFF-LABEL: func.func @elementwise_tail
// OFF-NOT: vector
func.func @elementwise_tail(%x: memref<4x100xf32>, %y: memref<4x100xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c100 = arith.constant 100 : index
  %two = arith.constant 2.0 : f32
  scf.for %r = %c0 to %c4 step %c1 {
    scf.for %i = %c0 to %c100 step %c1 {
      %a = memref.load %x[%r, %i] : memref<4x100xf32>
      %b = arith.mulf %a, %two : f32
      %c = math.exp %b : f32
      memref.store %c, %y[%r, %i] : memref<4x100xf32>
    }
  }
  func.return
}

// -----

// f64: 8 lanes; two steps are unrolled (at most UNROLL_LIMIT are), no remainder.
// CHECK-LABEL: func.func @f64_unrolled
// CHECK-DAG: %[[C8:.*]] = arith.constant 8 : index
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK: %[[ZERO:.*]] = arith.constant dense<0.000000e+00> : vector<8xf64>
// CHECK-NEXT: %[[A:.*]] = vector.load %{{.*}}[%[[C0]]] : memref<16xf64>, vector<8xf64>
// CHECK-NEXT: %[[M:.*]] = arith.maximumf %[[A]], %[[ZERO]] : vector<8xf64>
// CHECK-NEXT: vector.store %[[M]], %{{.*}}[%[[C0]]] : memref<16xf64>, vector<8xf64>
// CHECK-NEXT: %[[A2:.*]] = vector.load %{{.*}}[%[[C8]]] : memref<16xf64>, vector<8xf64>
// CHECK-NEXT: %[[M2:.*]] = arith.maximumf %[[A2]], %[[ZERO]] : vector<8xf64>
// CHECK-NEXT: vector.store %[[M2]], %{{.*}}[%[[C8]]] : memref<16xf64>, vector<8xf64>
// CHECK-NEXT: func.return
func.func @f64_unrolled(%x: memref<16xf64>, %y: memref<16xf64>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c16 = arith.constant 16 : index
  %zero = arith.constant 0.0 : f64
  scf.for %i = %c0 to %c16 step %c1 {
    %a = memref.load %x[%i] : memref<16xf64>
    %b = arith.maximumf %a, %zero : f64
    memref.store %b, %y[%i] : memref<16xf64>
  }
  func.return
}

// -----

// A load that does not depend on the column is loaded and broadcast once per row, before
// the (unrolled) vector steps.
// CHECK-LABEL: func.func @broadcast_load
// CHECK-SAME: (%[[X:.*]]: memref<8x64xf32>, %[[S:.*]]: memref<8xf32>, %[[Y:.*]]: memref<8x64xf32>)
// CHECK: scf.for %[[R:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK-NEXT: %[[B:.*]] = memref.load %[[S]][%[[R]]] : memref<8xf32>
// CHECK-NEXT: %[[BV:.*]] = vector.broadcast %[[B]] : f32 to vector<16xf32>
// CHECK-NEXT: %[[A:.*]] = vector.load %[[X]][%[[R]], %{{.*}}] : memref<8x64xf32>, vector<16xf32>
// CHECK-NEXT: %[[D:.*]] = arith.subf %[[A]], %[[BV]] : vector<16xf32>
// CHECK-NEXT: vector.store %[[D]], %[[Y]][%[[R]], %{{.*}}] : memref<8x64xf32>, vector<16xf32>
// CHECK-COUNT-3: arith.subf %{{.*}}, %[[BV]] : vector<16xf32>
// CHECK-NOT: memref.load
// CHECK: func.return
func.func @broadcast_load(%x: memref<8x64xf32>, %s: memref<8xf32>, %y: memref<8x64xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %c64 = arith.constant 64 : index
  scf.for %r = %c0 to %c8 step %c1 {
    scf.for %i = %c0 to %c64 step %c1 {
      %a = memref.load %x[%r, %i] : memref<8x64xf32>
      %b = memref.load %s[%r] : memref<8xf32>
      %c = arith.subf %a, %b : f32
      memref.store %c, %y[%r, %i] : memref<8x64xf32>
    }
  }
  func.return
}

// -----

// The split reduction of linalg-split-reduction (16 lanes of partial sums per row in the
// workspace, then their in-order combine): the partial sums become one vector carried through
// the k loop as an iter_arg, starting from the fill's splat; the combine folds it with
// vector.reduction into the row's sum; the workspace buffer is no longer touched at all.
// CHECK-LABEL: func.func @split_reduction
// CHECK-SAME: (%[[X:.*]]: memref<8x4x16xf32>, %[[OUT:.*]]: memref<8xf32>
// CHECK: scf.for %[[R:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK-NEXT: memref.store %zero, %[[OUT]][%[[R]]] : memref<8xf32>
// CHECK-NEXT: %[[INIT:.*]] = arith.constant dense<0.000000e+00> : vector<16xf32>
// CHECK-NEXT: %[[PARTIAL:.*]] = scf.for %[[K:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[ACC:.*]] = %[[INIT]]) -> (vector<16xf32>) {
// CHECK-NEXT: %[[V:.*]] = vector.load %[[X]][%[[R]], %[[K]], %{{.*}}] : memref<8x4x16xf32>, vector<16xf32>
// CHECK-NEXT: %[[S:.*]] = arith.addf %[[ACC]], %[[V]] : vector<16xf32>
// CHECK-NEXT: scf.yield %[[S]] : vector<16xf32>
// CHECK-NEXT: }
// CHECK-NEXT: %[[T:.*]] = memref.load %[[OUT]][%[[R]]] : memref<8xf32>
// CHECK-NEXT: %[[SUM:.*]] = vector.reduction <add>, %[[PARTIAL]], %[[T]] : vector<16xf32> into f32
// CHECK-NEXT: memref.store %[[SUM]], %[[OUT]][%[[R]]] : memref<8xf32>
// CHECK-NEXT: }
// CHECK-NOT: %acc[
// With 8 lanes the 16 partial sums are two vectors, both carried, folded in lane order.
// AVX2-LABEL: func.func @split_reduction
// AVX2: %[[INIT:.*]] = arith.constant dense<0.000000e+00> : vector<8xf32>
// AVX2-NEXT: %[[P0:.*]], %[[P1:.*]] = scf.for {{.*}} iter_args(%{{.*}} = %[[INIT]], %{{.*}} = %[[INIT]]) -> (vector<8xf32>, vector<8xf32>) {
// AVX2: vector.reduction <add>, %[[P0]], %{{.*}} : vector<8xf32> into f32
// AVX2: vector.reduction <add>, %[[P1]], %{{.*}} : vector<8xf32> into f32
func.func @split_reduction(%x: memref<8x4x16xf32>, %out: memref<8xf32>, %ws: memref<512xi8>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c8 = arith.constant 8 : index
  %c16 = arith.constant 16 : index
  %zero = arith.constant 0.0 : f32
  %acc = memref.view %ws[%c0][] : memref<512xi8> to memref<8x16xf32>
  scf.for %r = %c0 to %c8 step %c1 {
    memref.store %zero, %out[%r] : memref<8xf32>
    scf.for %l = %c0 to %c16 step %c1 {
      memref.store %zero, %acc[%r, %l] : memref<8x16xf32>
    }
    scf.for %k = %c0 to %c4 step %c1 {
      scf.for %l = %c0 to %c16 step %c1 {
        %v = memref.load %x[%r, %k, %l] : memref<8x4x16xf32>
        %a = memref.load %acc[%r, %l] : memref<8x16xf32>
        %s = arith.addf %a, %v : f32
        memref.store %s, %acc[%r, %l] : memref<8x16xf32>
      }
    }
    scf.for %l = %c0 to %c16 step %c1 {
      %p = memref.load %acc[%r, %l] : memref<8x16xf32>
      %t = memref.load %out[%r] : memref<8xf32>
      %u = arith.addf %t, %p : f32
      memref.store %u, %out[%r] : memref<8xf32>
    }
  }
  func.return
}

// -----

// A reduction into a fixed address (max over a row of 256): every step folds its 16 lanes,
// in order, into the accumulator, which stays in memory between steps.
// CHECK-LABEL: func.func @reduction
// CHECK-SAME: (%[[X:.*]]: memref<4x256xf32>, %[[OUT:.*]]: memref<4xf32>)
// CHECK: scf.for %[[R:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK-NEXT: scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK-NEXT: %[[V:.*]] = vector.load %[[X]][%[[R]], %[[I]]] : memref<4x256xf32>, vector<16xf32>
// CHECK-NEXT: %[[M:.*]] = memref.load %[[OUT]][%[[R]]] : memref<4xf32>
// CHECK-NEXT: %[[N:.*]] = vector.reduction <maximumf>, %[[V]], %[[M]] : vector<16xf32> into f32
// CHECK-NEXT: memref.store %[[N]], %[[OUT]][%[[R]]] : memref<4xf32>
// CHECK-NEXT: }
func.func @reduction(%x: memref<4x256xf32>, %out: memref<4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c256 = arith.constant 256 : index
  scf.for %r = %c0 to %c4 step %c1 {
    scf.for %i = %c0 to %c256 step %c1 {
      %v = memref.load %x[%r, %i] : memref<4x256xf32>
      %m = memref.load %out[%r] : memref<4xf32>
      %n = arith.maximumf %v, %m : f32
      memref.store %n, %out[%r] : memref<4xf32>
    }
  }
  func.return
}

// -----

// Loops left scalar: the induction variable on a dimension other than the last, a strided
// last dimension, 8 iterations (fewer than 16 lanes), an op with no vector form (ceil: no
// libmvec variant, no helper), index arithmetic on the induction variable, a load of a fixed
// element of a buffer the loop writes.
// CHECK-LABEL: func.func @stays_scalar
// CHECK-NOT: vector
// CHECK: func.return
func.func @stays_scalar(%x: memref<64x64xf32>, %s: memref<64x64xf32, strided<[128, 2]>>, %y: memref<64x64xf32>, %z: memref<8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %c63 = arith.constant 63 : index
  %c64 = arith.constant 64 : index
  scf.for %i = %c0 to %c64 step %c1 {
    %a = memref.load %x[%i, %c0] : memref<64x64xf32>
    memref.store %a, %y[%i, %c0] : memref<64x64xf32>
  }
  scf.for %i = %c0 to %c64 step %c1 {
    %a = memref.load %s[%c0, %i] : memref<64x64xf32, strided<[128, 2]>>
    memref.store %a, %y[%c1, %i] : memref<64x64xf32>
  }
  scf.for %i = %c0 to %c8 step %c1 {
    %a = memref.load %z[%i] : memref<8xf32>
    %b = arith.addf %a, %a : f32
    memref.store %b, %z[%i] : memref<8xf32>
  }
  scf.for %i = %c0 to %c64 step %c1 {
    %a = memref.load %x[%c0, %i] : memref<64x64xf32>
    %b = math.ceil %a : f32
    memref.store %b, %y[%c0, %i] : memref<64x64xf32>
  }
  scf.for %i = %c0 to %c63 step %c1 {
    %j = arith.addi %i, %c1 : index
    %a = memref.load %x[%c0, %j] : memref<64x64xf32>
    memref.store %a, %y[%c0, %i] : memref<64x64xf32>
  }
  scf.for %i = %c0 to %c64 step %c1 {
    %a = memref.load %y[%c0, %i] : memref<64x64xf32>
    %b = memref.load %y[%c0, %c0] : memref<64x64xf32>
    %c = arith.addf %a, %b : f32
    memref.store %c, %y[%c0, %i] : memref<64x64xf32>
  }
  func.return
}
