// RUN: aidjit-opt %s --split-input-file -p 'vectorize-transposes{vector-bytes=16}' | filecheck %s
// RUN: aidjit-opt %s --split-input-file -p vectorize-transposes | filecheck %s --check-prefix=WIDE
// RUN: aidjit-opt %s --split-input-file -p 'vectorize-transposes{vector-bytes=0}' | filecheck %s --check-prefix=OFF

// Transposing copies, as convert-linalg-to-fused-loops writes them, become L x L blocks of
// vector loads, shuffles and stores. With 16-byte vectors a block is 4 x 4 f32: two rounds
// of shuffles (distance 2, then 1), four shuffles each.

// 19 x 18 -> 18 x 19: blocks over 16 x 16, then the nest over the columns 16..19 of the
// rows 0..16, then the nest over the rows 16..18, every column.
// CHECK-LABEL: func.func @weight
// CHECK-DAG: %[[C4:.*]] = arith.constant 4 : index
// CHECK-DAG: %[[C16:.*]] = arith.constant 16 : index
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : index
// CHECK-DAG: %[[C2:.*]] = arith.constant 2 : index
// CHECK-DAG: %[[C3:.*]] = arith.constant 3 : index
// CHECK: scf.for %[[I:.*]] = %[[C0]] to %[[C16]] step %[[C4]] {
// CHECK-NEXT: scf.for %[[J:.*]] = %[[C0]] to %[[C16]] step %[[C4]] {
// CHECK-NEXT: %[[R0:.*]] = vector.load %w[%[[J]], %[[I]]] : memref<19x18xf32>, vector<4xf32>
// CHECK-NEXT: %[[J1:.*]] = arith.addi %[[J]], %[[C1]] : index
// CHECK-NEXT: %[[R1:.*]] = vector.load %w[%[[J1]], %[[I]]]
// CHECK-NEXT: %[[J2:.*]] = arith.addi %[[J]], %[[C2]] : index
// CHECK-NEXT: %[[R2:.*]] = vector.load %w[%[[J2]], %[[I]]]
// CHECK-NEXT: %[[J3:.*]] = arith.addi %[[J]], %[[C3]] : index
// CHECK-NEXT: %[[R3:.*]] = vector.load %w[%[[J3]], %[[I]]]
// Distance 2: rows 0 and 2 exchange their upper and lower halves, rows 1 and 3 too.
// CHECK-NEXT: %[[A0:.*]] = vector.shuffle %[[R0]], %[[R2]] [0, 1, 4, 5] : vector<4xf32>, vector<4xf32>
// CHECK-NEXT: %[[A2:.*]] = vector.shuffle %[[R0]], %[[R2]] [2, 3, 6, 7]
// CHECK-NEXT: %[[A1:.*]] = vector.shuffle %[[R1]], %[[R3]] [0, 1, 4, 5]
// CHECK-NEXT: %[[A3:.*]] = vector.shuffle %[[R1]], %[[R3]] [2, 3, 6, 7]
// Distance 1: rows 0 and 1 exchange odd and even lanes, rows 2 and 3 too.
// CHECK-NEXT: %[[T0:.*]] = vector.shuffle %[[A0]], %[[A1]] [0, 4, 2, 6]
// CHECK-NEXT: %[[T1:.*]] = vector.shuffle %[[A0]], %[[A1]] [1, 5, 3, 7]
// CHECK-NEXT: %[[T2:.*]] = vector.shuffle %[[A2]], %[[A3]] [0, 4, 2, 6]
// CHECK-NEXT: %[[T3:.*]] = vector.shuffle %[[A2]], %[[A3]] [1, 5, 3, 7]
// CHECK-NEXT: vector.store %[[T0]], %t[%[[I]], %[[J]]] : memref<18x19xf32>, vector<4xf32>
// CHECK-NEXT: %[[I1:.*]] = arith.addi %[[I]], %[[C1]] : index
// CHECK-NEXT: vector.store %[[T1]], %t[%[[I1]], %[[J]]]
// CHECK-NEXT: %[[I2:.*]] = arith.addi %[[I]], %[[C2]] : index
// CHECK-NEXT: vector.store %[[T2]], %t[%[[I2]], %[[J]]]
// CHECK-NEXT: %[[I3:.*]] = arith.addi %[[I]], %[[C3]] : index
// CHECK-NEXT: vector.store %[[T3]], %t[%[[I3]], %[[J]]]
// CHECK-NEXT: }
// CHECK-NEXT: }
// CHECK-NEXT: scf.for %[[RI:.*]] = %{{.*}} to %[[C16]] step %c1 {
// CHECK-NEXT: scf.for %[[RJ:.*]] = %[[C16]] to %c19 step %c1 {
// CHECK-NEXT: %[[V:.*]] = memref.load %w[%[[RJ]], %[[RI]]] : memref<19x18xf32>
// CHECK-NEXT: memref.store %[[V]], %t[%[[RI]], %[[RJ]]] : memref<18x19xf32>
// CHECK: scf.for %{{.*}} = %[[C16]] to %c18 step %c1 {
// CHECK-NEXT: scf.for %{{.*}} = %c0 to %c19 step %c1 {
// CHECK-NEXT: memref.load %w
// CHECK-NEXT: memref.store
// 64-byte vectors: 18 x 19 holds one 16 x 16 block of f32, in four rounds (8, 4, 2, 1).
// WIDE-LABEL: func.func @weight
// WIDE-COUNT-64: vector.shuffle {{.*}} : vector<16xf32>, vector<16xf32>
// WIDE-NOT: vector.shuffle
// WIDE: scf.for
// OFF-LABEL: func.func @weight
// OFF-NOT: vector
func.func @weight(%w: memref<19x18xf32>, %t: memref<18x19xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c18 = arith.constant 18 : index
  %c19 = arith.constant 19 : index
  scf.for %i = %c0 to %c18 step %c1 {
    scf.for %j = %c0 to %c19 step %c1 {
      %v = memref.load %w[%j, %i] : memref<19x18xf32>
      memref.store %v, %t[%i, %j] : memref<18x19xf32>
    }
  }
  func.return
}

// -----

// A batched transpose (attention's k.T per head): the leading index is the outer loop's and
// passes through; f64 takes 2 lanes per 16 bytes, one round of shuffles.
// CHECK-LABEL: func.func @batched
// CHECK: scf.for %[[B:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK-NEXT: scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step %[[C2:.*]] {
// CHECK-NEXT: scf.for %[[J:.*]] = %{{.*}} to %{{.*}} step %[[C2]] {
// CHECK-NEXT: %[[R0:.*]] = vector.load %k[%[[B]], %[[J]], %[[I]]] : memref<3x4x6xf64>, vector<2xf64>
// CHECK-NEXT: %[[J1:.*]] = arith.addi %[[J]]
// CHECK-NEXT: %[[R1:.*]] = vector.load %k[%[[B]], %[[J1]], %[[I]]]
// CHECK-NEXT: %[[T0:.*]] = vector.shuffle %[[R0]], %[[R1]] [0, 2] : vector<2xf64>, vector<2xf64>
// CHECK-NEXT: %[[T1:.*]] = vector.shuffle %[[R0]], %[[R1]] [1, 3]
// CHECK-NEXT: vector.store %[[T0]], %kt[%[[B]], %[[I]], %[[J]]] : memref<3x6x4xf64>, vector<2xf64>
// CHECK-NOT: scf.for
// CHECK: func.return
func.func @batched(%k: memref<3x4x6xf64>, %kt: memref<3x6x4xf64>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  %c4 = arith.constant 4 : index
  %c6 = arith.constant 6 : index
  scf.for %b = %c0 to %c3 step %c1 {
    scf.for %i = %c0 to %c6 step %c1 {
      scf.for %j = %c0 to %c4 step %c1 {
        %v = memref.load %k[%b, %j, %i] : memref<3x4x6xf64>
        memref.store %v, %kt[%b, %i, %j] : memref<3x6x4xf64>
      }
    }
  }
  func.return
}

// -----

// Left alone: fewer rows than lanes (3 < 4), a copy that computes (negf), a copy that does
// not transpose, integer elements.
// CHECK-LABEL: func.func @not_transposes
// CHECK-NOT: vector
// CHECK: func.return
func.func @not_transposes(%a: memref<8x3xf32>, %b: memref<3x8xf32>, %c: memref<8x8xf32>, %d: memref<8x8xf32>, %e: memref<8x8xi32>, %f: memref<8x8xi32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  %c8 = arith.constant 8 : index
  scf.for %i = %c0 to %c3 step %c1 {
    scf.for %j = %c0 to %c8 step %c1 {
      %v = memref.load %a[%j, %i] : memref<8x3xf32>
      memref.store %v, %b[%i, %j] : memref<3x8xf32>
    }
  }
  scf.for %i = %c0 to %c8 step %c1 {
    scf.for %j = %c0 to %c8 step %c1 {
      %v = memref.load %c[%j, %i] : memref<8x8xf32>
      %n = arith.negf %v : f32
      memref.store %n, %d[%i, %j] : memref<8x8xf32>
    }
  }
  scf.for %i = %c0 to %c8 step %c1 {
    scf.for %j = %c0 to %c8 step %c1 {
      %v = memref.load %c[%i, %j] : memref<8x8xf32>
      memref.store %v, %d[%i, %j] : memref<8x8xf32>
    }
  }
  scf.for %i = %c0 to %c8 step %c1 {
    scf.for %j = %c0 to %c8 step %c1 {
      %v = memref.load %e[%j, %i] : memref<8x8xi32>
      memref.store %v, %f[%i, %j] : memref<8x8xi32>
    }
  }
  func.return
}
