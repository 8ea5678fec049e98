// RUN: aidjit-opt %s --split-input-file -p convert-linalg-to-fused-loops | filecheck %s

// linalg on memrefs becomes scf.for nests: one loop per loop dim, outermost first, the body
// inlined between loads through the indexing maps and stores of what it yields. Every index
// constant (bounds, steps, constant map results) is made once, at the top of the function.

// An elementwise generic: the identity map loads a[i, j]; the broadcast map (d0, 0) loads
// b[i, 0] with the constant index; the transpose map (d1, d0) loads t[j, i]; a scalar operand
// is used as it is (no load); linalg.index 1 becomes the inner induction variable; the output,
// whose block argument the body never reads, is stored to but not loaded.
// CHECK-LABEL: func.func @elementwise
// CHECK-SAME: (%[[A:.*]]: memref<4x3xf32>, %[[B:.*]]: memref<4x1xf32>, %[[T:.*]]: memref<3x4xf32>, %[[S:.*]]: f32, %[[OUT:.*]]: memref<4x3xf32>)
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : index
// CHECK-DAG: %[[C3:.*]] = arith.constant 3 : index
// CHECK-DAG: %[[C4:.*]] = arith.constant 4 : index
// CHECK-NEXT: scf.for %[[I:.*]] = %[[C0]] to %[[C4]] step %[[C1]] {
// CHECK-NEXT: scf.for %[[J:.*]] = %[[C0]] to %[[C3]] step %[[C1]] {
// CHECK-NEXT: %[[VA:.*]] = memref.load %[[A]][%[[I]], %[[J]]] : memref<4x3xf32>
// CHECK-NEXT: %[[VB:.*]] = memref.load %[[B]][%[[I]], %[[C0]]] : memref<4x1xf32>
// CHECK-NEXT: %[[VT:.*]] = memref.load %[[T]][%[[J]], %[[I]]] : memref<3x4xf32>
// CHECK-NEXT: %[[J64:.*]] = arith.index_cast %[[J]] : index to i64
// CHECK-NEXT: %[[JF:.*]] = arith.sitofp %[[J64]] : i64 to f32
// CHECK-NEXT: %[[SUM:.*]] = arith.addf %[[VA]], %[[VB]] : f32
// CHECK-NEXT: %[[PROD:.*]] = arith.mulf %[[SUM]], %[[VT]] : f32
// CHECK-NEXT: %[[DIFF:.*]] = arith.subf %[[PROD]], %[[S]] : f32
// CHECK-NEXT: %[[R:.*]] = arith.addf %[[DIFF]], %[[JF]] : f32
// CHECK-NEXT: memref.store %[[R]], %[[OUT]][%[[I]], %[[J]]] : memref<4x3xf32>
// CHECK-NEXT: }
// CHECK-NEXT: }
// CHECK-NEXT: func.return
// CHECK-NOT: linalg.
func.func @elementwise(%a: memref<4x3xf32>, %b: memref<4x1xf32>, %t: memref<3x4xf32>, %s: f32, %out: memref<4x3xf32>) {
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, 0)>, affine_map<(d0, d1) -> (d1, d0)>, affine_map<(d0, d1) -> ()>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%a, %b, %t, %s : memref<4x3xf32>, memref<4x1xf32>, memref<3x4xf32>, f32) outs(%out : memref<4x3xf32>) {
  ^bb0(%x: f32, %y: f32, %z: f32, %w: f32, %o: f32):
    %j = linalg.index 1 : index
    %j64 = arith.index_cast %j : index to i64
    %jf = arith.sitofp %j64 : i64 to f32
    %0 = arith.addf %x, %y : f32
    %1 = arith.mulf %0, %z : f32
    %2 = arith.subf %1, %w : f32
    %3 = arith.addf %2, %jf : f32
    linalg.yield %3 : f32
  }
  func.return
}

// -----

// A fill is a nest of stores; a row sum reads and writes its output element in the inner
// (reduction) loop, which gcc keeps in a register.
// CHECK-LABEL: func.func @row_sum
// CHECK-SAME: (%[[X:.*]]: memref<4x8xf32>, %[[OUT:.*]]: memref<4xf32>)
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : index
// CHECK-DAG: %[[C4:.*]] = arith.constant 4 : index
// CHECK-DAG: %[[C8:.*]] = arith.constant 8 : index
// CHECK-NEXT: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: scf.for %[[I:.*]] = %[[C0]] to %[[C4]] step %[[C1]] {
// CHECK-NEXT: memref.store %[[ZERO]], %[[OUT]][%[[I]]] : memref<4xf32>
// CHECK-NEXT: }
// CHECK-NEXT: scf.for %[[R:.*]] = %[[C0]] to %[[C4]] step %[[C1]] {
// CHECK-NEXT: scf.for %[[K:.*]] = %[[C0]] to %[[C8]] step %[[C1]] {
// CHECK-NEXT: %[[V:.*]] = memref.load %[[X]][%[[R]], %[[K]]] : memref<4x8xf32>
// CHECK-NEXT: %[[ACC:.*]] = memref.load %[[OUT]][%[[R]]] : memref<4xf32>
// CHECK-NEXT: %[[NEW:.*]] = arith.addf %[[ACC]], %[[V]] : f32
// CHECK-NEXT: memref.store %[[NEW]], %[[OUT]][%[[R]]] : memref<4xf32>
// CHECK-NEXT: }
// CHECK-NEXT: }
// CHECK-NEXT: func.return
func.func @row_sum(%x: memref<4x8xf32>, %out: memref<4xf32>) {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%out : memref<4xf32>)
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%x : memref<4x8xf32>) outs(%out : memref<4xf32>) {
  ^bb0(%v: f32, %acc: f32):
    %s = arith.addf %acc, %v : f32
    linalg.yield %s : f32
  }
  func.return
}

// -----

// A rank-0 generic has no loops: its body sits in the function with index-less loads and
// stores. A generic with two outputs (sum and max of each row, as linalg-fuse-siblings makes
// them) loads both accumulators and stores both results in one nest.
// CHECK-LABEL: func.func @rank0_and_siblings
// CHECK-SAME: (%[[X:.*]]: memref<f32>, %[[Y:.*]]: memref<3x2xf32>, %[[OUT:.*]]: memref<f32>, %[[SUM:.*]]: memref<3xf32>, %[[MAX:.*]]: memref<3xf32>)
// CHECK: %[[V:.*]] = memref.load %[[X]][] : memref<f32>
// CHECK-NEXT: %[[E:.*]] = math.exp %[[V]] : f32
// CHECK-NEXT: memref.store %[[E]], %[[OUT]][] : memref<f32>
// CHECK-NEXT: scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK-NEXT: scf.for %[[J:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK-NEXT: %[[W:.*]] = memref.load %[[Y]][%[[I]], %[[J]]] : memref<3x2xf32>
// CHECK-NEXT: %[[S:.*]] = memref.load %[[SUM]][%[[I]]] : memref<3xf32>
// CHECK-NEXT: %[[M:.*]] = memref.load %[[MAX]][%[[I]]] : memref<3xf32>
// CHECK-NEXT: %[[S1:.*]] = arith.addf %[[S]], %[[W]] : f32
// CHECK-NEXT: %[[M1:.*]] = arith.maximumf %[[M]], %[[W]] : f32
// CHECK-NEXT: memref.store %[[S1]], %[[SUM]][%[[I]]] : memref<3xf32>
// CHECK-NEXT: memref.store %[[M1]], %[[MAX]][%[[I]]] : memref<3xf32>
// CHECK-NEXT: }
// CHECK-NEXT: }
// CHECK-NEXT: func.return
func.func @rank0_and_siblings(%x: memref<f32>, %y: memref<3x2xf32>, %out: memref<f32>, %sum: memref<3xf32>, %max: memref<3xf32>) {
  linalg.generic {indexing_maps = [affine_map<() -> ()>, affine_map<() -> ()>], iterator_types = []} ins(%x : memref<f32>) outs(%out : memref<f32>) {
  ^bb0(%v: f32, %o: f32):
    %e = math.exp %v : f32
    linalg.yield %e : f32
  }
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%y : memref<3x2xf32>) outs(%sum, %max : memref<3xf32>, memref<3xf32>) {
  ^bb0(%v: f32, %s: f32, %m: f32):
    %s1 = arith.addf %s, %v : f32
    %m1 = arith.maximumf %m, %v : f32
    linalg.yield %s1, %m1 : f32, f32
  }
  func.return
}

// -----

// A row group (softmax's first half with a split max, as bufferize leaves it): ONE loop over
// the 4 rows holds every member, in order, with d0 = the row: the row's init store, the
// 16-lane fill (its lane loop inside), the partial and final max (their other dims as loops
// inside), then exp(x - max). The constant and the expand_shape found between members move
// before the row loop (they name memory, they do not touch it). The transpose after the group
// is no member: it gets its own nest after the row loop.
// CHECK-LABEL: func.func @row_group
// CHECK-SAME: (%[[X:.*]]: memref<4x64xf32>, %[[OUT:.*]]: memref<4x64xf32>, %[[OUT_T:.*]]: memref<64x4xf32>, %[[MAX:.*]]: memref<4xf32>, %[[LANES:.*]]: memref<4x16xf32>)
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : index
// CHECK-DAG: %[[C4:.*]] = arith.constant 4 : index
// CHECK-DAG: %[[C16:.*]] = arith.constant 16 : index
// CHECK-DAG: %[[C64:.*]] = arith.constant 64 : index
// CHECK-NOT: scf.for
// CHECK: %[[NEGINF:.*]] = arith.constant 0xff800000 : f32
// CHECK-NEXT: %[[XS:.*]] = memref.expand_shape %[[X]] {{.*}} output_shape [4, 4, 16] : memref<4x64xf32> into memref<4x4x16xf32>
// CHECK-NEXT: %[[COL:.*]] = memref.expand_shape %[[MAX]] {{.*}} output_shape [4, 1] : memref<4xf32> into memref<4x1xf32>
// CHECK-NEXT: scf.for %[[ROW:.*]] = %[[C0]] to %[[C4]] step %[[C1]] {
// CHECK-NEXT: memref.store %[[NEGINF]], %[[MAX]][%[[ROW]]] : memref<4xf32>
// CHECK-NEXT: scf.for %[[L:.*]] = %[[C0]] to %[[C16]] step %[[C1]] {
// CHECK-NEXT: memref.store %[[NEGINF]], %[[LANES]][%[[ROW]], %[[L]]] : memref<4x16xf32>
// CHECK-NEXT: }
// CHECK-NEXT: scf.for %[[Q:.*]] = %[[C0]] to %[[C4]] step %[[C1]] {
// CHECK-NEXT: scf.for %[[L2:.*]] = %[[C0]] to %[[C16]] step %[[C1]] {
// CHECK-NEXT: memref.load %[[XS]][%[[ROW]], %[[Q]], %[[L2]]] : memref<4x4x16xf32>
// CHECK-NEXT: memref.load %[[LANES]][%[[ROW]], %[[L2]]] : memref<4x16xf32>
// CHECK-NEXT: arith.maximumf
// CHECK-NEXT: memref.store %{{.*}}, %[[LANES]][%[[ROW]], %[[L2]]] : memref<4x16xf32>
// CHECK-NEXT: }
// CHECK-NEXT: }
// CHECK-NEXT: scf.for %[[L3:.*]] = %[[C0]] to %[[C16]] step %[[C1]] {
// CHECK-NEXT: memref.load %[[LANES]][%[[ROW]], %[[L3]]] : memref<4x16xf32>
// CHECK-NEXT: memref.load %[[MAX]][%[[ROW]]] : memref<4xf32>
// CHECK-NEXT: arith.maximumf
// CHECK-NEXT: memref.store %{{.*}}, %[[MAX]][%[[ROW]]] : memref<4xf32>
// CHECK-NEXT: }
// CHECK-NEXT: scf.for %[[J:.*]] = %[[C0]] to %[[C64]] step %[[C1]] {
// CHECK-NEXT: %[[V:.*]] = memref.load %[[X]][%[[ROW]], %[[J]]] : memref<4x64xf32>
// CHECK-NEXT: %[[M:.*]] = memref.load %[[COL]][%[[ROW]], %[[C0]]] : memref<4x1xf32>
// CHECK-NEXT: %[[D:.*]] = arith.subf %[[V]], %[[M]] : f32
// CHECK-NEXT: %[[E:.*]] = math.exp %[[D]] : f32
// CHECK-NEXT: memref.store %[[E]], %[[OUT]][%[[ROW]], %[[J]]] : memref<4x64xf32>
// CHECK-NEXT: }
// CHECK-NEXT: }
// CHECK-NEXT: scf.for %[[TI:.*]] = %[[C0]] to %[[C64]] step %[[C1]] {
// CHECK-NEXT: scf.for %[[TJ:.*]] = %[[C0]] to %[[C4]] step %[[C1]] {
// CHECK-NEXT: %[[TV:.*]] = memref.load %[[OUT]][%[[TJ]], %[[TI]]] : memref<4x64xf32>
// CHECK-NEXT: memref.store %[[TV]], %[[OUT_T]][%[[TI]], %[[TJ]]] : memref<64x4xf32>
// CHECK-NEXT: }
// CHECK-NEXT: }
// CHECK-NEXT: func.return
func.func @row_group(%x: memref<4x64xf32>, %out: memref<4x64xf32>, %out_t: memref<64x4xf32>, %max: memref<4xf32>, %lanes: memref<4x16xf32>) {
  %neginf = arith.constant 0xff800000 : f32
  linalg.fill {aidjit.row_group = 0 : i64} ins(%neginf : f32) outs(%max : memref<4xf32>)
  %xs = memref.expand_shape %x [[0], [1, 2]] output_shape [4, 4, 16] : memref<4x64xf32> into memref<4x4x16xf32>
  linalg.fill {aidjit.row_group = 0 : i64} ins(%neginf : f32) outs(%lanes : memref<4x16xf32>)
  linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d2)>], iterator_types = ["parallel", "reduction", "parallel"]} ins(%xs : memref<4x4x16xf32>) outs(%lanes : memref<4x16xf32>) attrs = {aidjit.row_group = 0 : i64} {
  ^bb0(%v: f32, %acc: f32):
    %m = arith.maximumf %acc, %v : f32
    linalg.yield %m : f32
  }
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%lanes : memref<4x16xf32>) outs(%max : memref<4xf32>) attrs = {aidjit.row_group = 0 : i64} {
  ^bb0(%v: f32, %acc: f32):
    %m = arith.maximumf %acc, %v : f32
    linalg.yield %m : f32
  }
  %col = memref.expand_shape %max [[0, 1]] output_shape [4, 1] : memref<4xf32> into memref<4x1xf32>
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, 0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%x, %col : memref<4x64xf32>, memref<4x1xf32>) outs(%out : memref<4x64xf32>) attrs = {aidjit.row_group = 0 : i64} {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %d = arith.subf %a, %b : f32
    %e = math.exp %d : f32
    linalg.yield %e : f32
  }
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d1, d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%out : memref<4x64xf32>) outs(%out_t : memref<64x4xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  }
  func.return
}

// -----

// Two row groups of different extents are two row loops, one after the other (each group's
// members are contiguous: linalg-fuse-rows numbers a new group where the run breaks).
// CHECK-LABEL: func.func @two_groups
// CHECK-SAME: (%[[X:.*]]: memref<4x8xf32>, %[[Y:.*]]: memref<2x8xf32>, %[[SX:.*]]: memref<4xf32>, %[[SY:.*]]: memref<2xf32>)
// CHECK-DAG: %[[C2:.*]] = arith.constant 2 : index
// CHECK-DAG: %[[C4:.*]] = arith.constant 4 : index
// CHECK: scf.for %[[I:.*]] = %{{.*}} to %[[C4]] step %{{.*}} {
// CHECK-NEXT: memref.store %{{.*}}, %[[SX]][%[[I]]]
// CHECK-NEXT: scf.for
// CHECK-NEXT: memref.load %[[X]][%[[I]], %{{.*}}]
// CHECK: }
// CHECK-NEXT: }
// CHECK-NEXT: scf.for %[[K:.*]] = %{{.*}} to %[[C2]] step %{{.*}} {
// CHECK-NEXT: memref.store %{{.*}}, %[[SY]][%[[K]]]
// CHECK-NEXT: scf.for
// CHECK-NEXT: memref.load %[[Y]][%[[K]], %{{.*}}]
// CHECK: }
// CHECK-NEXT: }
// CHECK-NEXT: func.return
func.func @two_groups(%x: memref<4x8xf32>, %y: memref<2x8xf32>, %sx: memref<4xf32>, %sy: memref<2xf32>) {
  %zero = arith.constant 0.0 : f32
  linalg.fill {aidjit.row_group = 0 : i64} ins(%zero : f32) outs(%sx : memref<4xf32>)
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%x : memref<4x8xf32>) outs(%sx : memref<4xf32>) attrs = {aidjit.row_group = 0 : i64} {
  ^bb0(%v: f32, %acc: f32):
    %s = arith.addf %acc, %v : f32
    linalg.yield %s : f32
  }
  linalg.fill {aidjit.row_group = 1 : i64} ins(%zero : f32) outs(%sy : memref<2xf32>)
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%y : memref<2x8xf32>) outs(%sy : memref<2xf32>) attrs = {aidjit.row_group = 1 : i64} {
  ^bb0(%v: f32, %acc: f32):
    %s = arith.addf %acc, %v : f32
    linalg.yield %s : f32
  }
  func.return
}

// -----

// A row group of one row gets no row loop: each member's nest starts at its next dim, with the
// row index the constant 0 (so parallelize-outer-loops sees each member's own outer loop).
// CHECK-LABEL: func.func @one_row_group
// CHECK-SAME: (%[[X:.*]]: memref<1x8x4xf32>, %[[S:.*]]: memref<1x8xf32>)
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[C8:.*]] = arith.constant 8 : index
// CHECK: scf.for %[[I:.*]] = %[[C0]] to %[[C8]] step %{{.*}} {
// CHECK-NEXT: memref.store %{{.*}}, %[[S]][%[[C0]], %[[I]]]
// CHECK-NEXT: }
// CHECK-NEXT: scf.for %[[J:.*]] = %[[C0]] to %[[C8]] step %{{.*}} {
// CHECK-NEXT: scf.for %[[K:.*]] = %[[C0]] to %{{.*}} step %{{.*}} {
// CHECK-NEXT: memref.load %[[X]][%[[C0]], %[[J]], %[[K]]]
// CHECK: }
// CHECK-NEXT: }
// CHECK-NEXT: func.return
func.func @one_row_group(%x: memref<1x8x4xf32>, %s: memref<1x8xf32>) {
  %zero = arith.constant 0.0 : f32
  linalg.fill {aidjit.row_group = 0 : i64} ins(%zero : f32) outs(%s : memref<1x8xf32>)
  linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x : memref<1x8x4xf32>) outs(%s : memref<1x8xf32>) attrs = {aidjit.row_group = 0 : i64} {
  ^bb0(%v: f32, %acc: f32):
    %t = arith.addf %acc, %v : f32
    linalg.yield %t : f32
  }
  func.return
}
