// RUN: aidjit-opt %s --split-input-file -p 'tile-contractions{vector-bytes=16 registers=10}' | filecheck %s
// RUN: aidjit-opt %s --split-input-file -p 'tile-contractions{vector-bytes=0}' | filecheck %s --check-prefix=OFF

// Loop-level contractions (as convert-linalg-to-fused-loops writes them) become register-tiled
// vector micro-kernels. With 16-byte vectors (4 f32 lanes) and 10 registers the tile is
// 3 rows x 2 vectors; every tail shows: 5 rows = 3 + 2, 10 columns = one 8-column panel + 2
// columns in one masked vector per row.

// A row group: zero fill, matmul, bias. The row loop is strip-mined by 3 and its body
// distributed over the rows of each block: the micro-kernel (C's tile carried through k in
// registers, stored once), then the bias. The fill before the contraction does not run: the
// accumulators start from the fill value instead of loading it back from C, and the
// micro-kernels store every column of the rows.
// CHECK-LABEL: func.func @row_group
// CHECK-SAME: (%[[A:.*]]: memref<5x2xf32>, %[[B:.*]]: memref<2x10xf32>, %{{.*}}: memref<10xf32>, %[[C:.*]]: memref<5x10xf32>)
// CHECK: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NOT: memref.store %[[ZERO]]
// The block's rows of A packed k-major on the stack, so the kernel broadcasts from one buffer.
// CHECK: %[[PACKED:.*]] = memref.alloca() {alignment = 64 : i64} : memref<2x3xf32>
// CHECK-NEXT: scf.for %[[PK:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK-NEXT: %[[A00:.*]] = memref.load %[[A]][%{{.*}}, %[[PK]]] : memref<5x2xf32>
// CHECK-NEXT: memref.store %[[A00]], %[[PACKED]][%[[PK]], %{{.*}}] : memref<2x3xf32>
// CHECK-COUNT-2: memref.store
// The tile: 3 x 2 accumulators starting at the fill value, carried through the k loop.
// CHECK-NOT: vector.load %[[C]]
// CHECK: %[[START:.*]] = vector.broadcast %[[ZERO]] : f32 to vector<4xf32>
// CHECK-NEXT: %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} = scf.for %[[K:.*]] = {{.*}} iter_args(%{{.*}} = %[[START]], %{{.*}} = %[[START]], %{{.*}} = %[[START]], %{{.*}} = %[[START]], %{{.*}} = %[[START]], %{{.*}} = %[[START]]) -> (vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>) {
// CHECK-NEXT: %[[B0:.*]] = vector.load %[[B]][%[[K]], %{{.*}}] : memref<2x10xf32>, vector<4xf32>
// CHECK-NEXT: %[[B1:.*]] = vector.load %[[B]][%[[K]], %{{.*}}] : memref<2x10xf32>, vector<4xf32>
// CHECK-NEXT: %[[A0:.*]] = memref.load %[[PACKED]][%[[K]], %{{.*}}] : memref<2x3xf32>
// CHECK-NEXT: %[[A0V:.*]] = vector.broadcast %[[A0]] : f32 to vector<4xf32>
// CHECK-NEXT: vector.fma %[[A0V]], %[[B0]], %{{.*}} : vector<4xf32>
// CHECK-NEXT: vector.fma %[[A0V]], %[[B1]], %{{.*}} : vector<4xf32>
// CHECK-COUNT-2: vector.broadcast
// CHECK: scf.yield
// CHECK-COUNT-6: vector.store %{{.*}}, %[[C]]
// The two columns left over: a 3 x 1 tile of vectors masked to their first 2 lanes, starting
// at the fill value, carried through k (B's row masked too, so nothing past column 9 is read)
// and stored masked.
// CHECK: %[[MASK:[0-9a-z_]+]] = vector.create_mask %{{.*}} : vector<4xi1>
// CHECK-NEXT: %[[TAIL_START:.*]] = vector.broadcast %[[ZERO]] : f32 to vector<4xf32>
// CHECK-NEXT: %{{.*}}, %{{.*}}, %{{.*}} = scf.for %[[KT:[0-9a-z_]+]] = {{.*}} iter_args(%{{.*}} = %[[TAIL_START]], %{{.*}} = %[[TAIL_START]], %{{.*}} = %[[TAIL_START]]) -> (vector<4xf32>, vector<4xf32>, vector<4xf32>) {
// CHECK-NEXT: %[[BT:[0-9a-z_]+]] = vector.maskedload %[[B]][%[[KT]], %[[EIGHT:[0-9a-z_]+]]], %[[MASK]], %{{.*}}
// CHECK: vector.fma %{{.*}}, %[[BT]], %{{.*}} : vector<4xf32>
// CHECK: scf.yield
// CHECK-COUNT-3: vector.maskedstore %[[C]][%{{.*}}, %[[EIGHT]]], %[[MASK]], %{{.*}} : memref<5x10xf32>, vector<4xi1>, vector<4xf32>
// CHECK-NOT: math.fma
// Then the bias for the same rows, and the last block of 2 rows with a 2 x 2 tile.
// CHECK: arith.addf
// CHECK: %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} = scf.for
// CHECK-NOT: math.fma {{.*}} vector
// OFF-LABEL: func.func @row_group
// OFF-NOT: vector.
func.func @row_group(%a: memref<5x2xf32>, %b: memref<2x10xf32>, %bias: memref<10xf32>, %c: memref<5x10xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c5 = arith.constant 5 : index
  %c10 = arith.constant 10 : index
  %zero = arith.constant 0.0 : f32
  scf.for %i = %c0 to %c5 step %c1 {
    scf.for %j = %c0 to %c10 step %c1 {
      memref.store %zero, %c[%i, %j] : memref<5x10xf32>
    }
    scf.for %k = %c0 to %c2 step %c1 {
      scf.for %j = %c0 to %c10 step %c1 {
        %x = memref.load %a[%i, %k] : memref<5x2xf32>
        %y = memref.load %b[%k, %j] : memref<2x10xf32>
        %z = memref.load %c[%i, %j] : memref<5x10xf32>
        %r = math.fma %x, %y, %z : f32
        memref.store %r, %c[%i, %j] : memref<5x10xf32>
      }
    }
    scf.for %j = %c0 to %c10 step %c1 {
      %v = memref.load %c[%i, %j] : memref<5x10xf32>
      %w = memref.load %bias[%j] : memref<10xf32>
      %s = arith.addf %v, %w : f32
      memref.store %s, %c[%i, %j] : memref<5x10xf32>
    }
  }
  func.return
}

// -----

// One fixed row (batch 1: the row index is a constant) in f64: 2 lanes, a 1-row tile of
// 2 vectors over 4 columns, no scalar tail, A read in place (one row needs no packing).
// CHECK-LABEL: func.func @one_row_f64
// CHECK: %{{.*}}, %{{.*}} = scf.for %[[K:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) -> (vector<2xf64>, vector<2xf64>) {
// CHECK: memref.load %{{.*}}[%c0, %[[K]]] : memref<1x3xf64>
// CHECK: vector.broadcast %{{.*}} : f64 to vector<2xf64>
// CHECK-COUNT-2: vector.fma
// CHECK: scf.yield
// CHECK-COUNT-2: vector.store
// CHECK-NOT: math.fma
func.func @one_row_f64(%a: memref<1x3xf64>, %b: memref<3x4xf64>, %c: memref<1x4xf64>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  %c4 = arith.constant 4 : index
  scf.for %k = %c0 to %c3 step %c1 {
    scf.for %j = %c0 to %c4 step %c1 {
      %x = memref.load %a[%c0, %k] : memref<1x3xf64>
      %y = memref.load %b[%k, %j] : memref<3x4xf64>
      %z = memref.load %c[%c0, %j] : memref<1x4xf64>
      %r = math.fma %x, %y, %z : f64
      memref.store %r, %c[%c0, %j] : memref<1x4xf64>
    }
  }
  func.return
}

// -----

// Not tiled: B read across j with a stride (a transposed operand), and a row of fewer
// columns than one vector.
// CHECK-LABEL: func.func @strided_b
// CHECK-NOT: vector.
// CHECK: math.fma
func.func @strided_b(%a: memref<4x3xf32>, %b: memref<8x3xf32>, %c: memref<4x8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  %c4 = arith.constant 4 : index
  %c8 = arith.constant 8 : index
  scf.for %i = %c0 to %c4 step %c1 {
    scf.for %k = %c0 to %c3 step %c1 {
      scf.for %j = %c0 to %c8 step %c1 {
        %x = memref.load %a[%i, %k] : memref<4x3xf32>
        %y = memref.load %b[%j, %k] : memref<8x3xf32>
        %z = memref.load %c[%i, %j] : memref<4x8xf32>
        %r = math.fma %x, %y, %z : f32
        memref.store %r, %c[%i, %j] : memref<4x8xf32>
      }
    }
  }
  func.return
}

// -----

// Fewer columns than lanes (3 < 4): the whole row is one masked vector; four rows make a 3-row
// tile and a 1-row one.
// CHECK-LABEL: func.func @narrow
// CHECK: %[[MASK:[0-9a-z_]+]] = vector.create_mask %{{.*}} : vector<4xi1>
// CHECK-COUNT-3: vector.maskedload %{{.*}}, %[[MASK]]
// CHECK: vector.maskedload %{{.*}}, %[[MASK]]
// CHECK-COUNT-3: vector.fma
// CHECK: vector.maskedstore
// CHECK: vector.create_mask
// CHECK-NOT: math.fma
func.func @narrow(%a: memref<4x3xf32>, %b: memref<3x3xf32>, %c: memref<4x3xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  %c4 = arith.constant 4 : index
  scf.for %i = %c0 to %c4 step %c1 {
    scf.for %k = %c0 to %c3 step %c1 {
      scf.for %j = %c0 to %c3 step %c1 {
        %x = memref.load %a[%i, %k] : memref<4x3xf32>
        %y = memref.load %b[%k, %j] : memref<3x3xf32>
        %z = memref.load %c[%i, %j] : memref<4x3xf32>
        %r = math.fma %x, %y, %z : f32
        memref.store %r, %c[%i, %j] : memref<4x3xf32>
      }
    }
  }
  func.return
}

// -----

// An empty contraction (K = 0, as A: 4x0 @ B: 0x2 is lowered): no k iteration, so the packing
// of A copies nothing (it once copied one k, reading A out of bounds) and the tile's k loop
// is gone, C's tile stored as it was loaded.
// CHECK-LABEL: func.func @empty_contraction
// CHECK-SAME: (%[[A:.*]]: memref<4x0xf32>, %[[B:.*]]: memref<0x2xf32>, %[[C:.*]]: memref<4x2xf32>)
// CHECK: memref.alloca() {alignment = 64 : i64} : memref<0x3xf32>
// CHECK-NOT: memref.load %[[A]]
// CHECK-NOT: %[[B]]
// CHECK-NOT: scf.for
// CHECK: vector.maskedstore %[[C]]
// CHECK-NOT: math.fma
func.func @empty_contraction(%a: memref<4x0xf32>, %b: memref<0x2xf32>, %c: memref<4x2xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c4 = arith.constant 4 : index
  scf.for %i = %c0 to %c4 step %c1 {
    scf.for %k = %c0 to %c0 step %c1 {
      scf.for %j = %c0 to %c2 step %c1 {
        %x = memref.load %a[%i, %k] : memref<4x0xf32>
        %y = memref.load %b[%k, %j] : memref<0x2xf32>
        %z = memref.load %c[%i, %j] : memref<4x2xf32>
        %r = math.fma %x, %y, %z : f32
        memref.store %r, %c[%i, %j] : memref<4x2xf32>
      }
    }
  }
  func.return
}

// -----

// A weight gradient's left operand: an activation transposed (relu(z + bias).T), computed row
// by row into a temporary A by the row group. Each block's elements are computed where they
// are packed instead, reading the block's rows side by side in z, and A (a view of the
// workspace, used by nothing else) is gone with its loop. The fill becomes the accumulators'
// start, between the packing and the k loop.
// CHECK-LABEL: func.func @activation_transposed
// CHECK-SAME: (%[[Z:.*]]: memref<2x6xf32>, %[[BIAS:.*]]: memref<6xf32>, %{{.*}}: memref<2x4xf32>, %[[C:.*]]: memref<6x4xf32>, %{{.*}}: memref<48xi8>)
// CHECK-NOT: memref.view
// CHECK: scf.for %[[I0:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK-NOT: memref.store %{{.*}}, %[[C]]
// CHECK: %[[PACKED:.*]] = memref.alloca() {alignment = 64 : i64} : memref<2x3xf32>
// CHECK-NEXT: scf.for %[[PK:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK-NEXT: %[[X:.*]] = memref.load %[[Z]][%[[PK]], %[[I0]]] : memref<2x6xf32>
// CHECK-NEXT: %[[Y:.*]] = memref.load %[[BIAS]][%[[I0]]] : memref<6xf32>
// CHECK-NEXT: %[[S:.*]] = arith.addf %[[X]], %[[Y]] : f32
// CHECK-NEXT: %[[R:.*]] = arith.maximumf %[[S]], %{{.*}} : f32
// CHECK-NEXT: memref.store %[[R]], %[[PACKED]][%[[PK]], %{{.*}}] : memref<2x3xf32>
// CHECK-NEXT: memref.load %[[Z]][%[[PK]], %{{.*}}] : memref<2x6xf32>
// CHECK-COUNT-2: arith.maximumf
// CHECK: vector.broadcast %zero
// CHECK-NEXT: scf.for
// CHECK: vector.fma
// CHECK-NOT: memref.view
// CHECK-NOT: math.fma
func.func @activation_transposed(%z: memref<2x6xf32>, %bias: memref<6xf32>, %b: memref<2x4xf32>, %c: memref<6x4xf32>, %workspace: memref<48xi8>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c4 = arith.constant 4 : index
  %c6 = arith.constant 6 : index
  %zero = arith.constant 0.0 : f32
  %a = memref.view %workspace[%c0][] : memref<48xi8> to memref<6x2xf32>
  scf.for %i = %c0 to %c6 step %c1 {
    scf.for %k = %c0 to %c2 step %c1 {
      %x = memref.load %z[%k, %i] : memref<2x6xf32>
      %y = memref.load %bias[%i] : memref<6xf32>
      %s = arith.addf %x, %y : f32
      %r = arith.maximumf %s, %zero : f32
      memref.store %r, %a[%i, %k] : memref<6x2xf32>
    }
    scf.for %j = %c0 to %c4 step %c1 {
      memref.store %zero, %c[%i, %j] : memref<6x4xf32>
    }
    scf.for %k = %c0 to %c2 step %c1 {
      scf.for %j = %c0 to %c4 step %c1 {
        %x = memref.load %a[%i, %k] : memref<6x2xf32>
        %y = memref.load %b[%k, %j] : memref<2x4xf32>
        %w = memref.load %c[%i, %j] : memref<6x4xf32>
        %f = math.fma %x, %y, %w : f32
        memref.store %f, %c[%i, %j] : memref<6x4xf32>
      }
    }
  }
  func.return
}

// -----

// The same row group, but A is read again after it: its rows are still computed and stored
// by the row group, and packed from A.
// CHECK-LABEL: func.func @activation_kept
// CHECK: %[[A:.*]] = memref.view
// CHECK: memref.store %{{.*}}, %[[A]]
// CHECK: memref.alloca()
// CHECK-NEXT: scf.for
// CHECK-NEXT: memref.load %[[A]]
// CHECK: vector.fma
// CHECK: memref.load %[[A]][%c0, %c0]
func.func @activation_kept(%z: memref<2x6xf32>, %bias: memref<6xf32>, %b: memref<2x4xf32>, %c: memref<6x4xf32>, %workspace: memref<48xi8>, %first: memref<f32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c4 = arith.constant 4 : index
  %c6 = arith.constant 6 : index
  %zero = arith.constant 0.0 : f32
  %a = memref.view %workspace[%c0][] : memref<48xi8> to memref<6x2xf32>
  scf.for %i = %c0 to %c6 step %c1 {
    scf.for %k = %c0 to %c2 step %c1 {
      %x = memref.load %z[%k, %i] : memref<2x6xf32>
      %y = memref.load %bias[%i] : memref<6xf32>
      %s = arith.addf %x, %y : f32
      %r = arith.maximumf %s, %zero : f32
      memref.store %r, %a[%i, %k] : memref<6x2xf32>
    }
    scf.for %j = %c0 to %c4 step %c1 {
      memref.store %zero, %c[%i, %j] : memref<6x4xf32>
    }
    scf.for %k = %c0 to %c2 step %c1 {
      scf.for %j = %c0 to %c4 step %c1 {
        %x = memref.load %a[%i, %k] : memref<6x2xf32>
        %y = memref.load %b[%k, %j] : memref<2x4xf32>
        %w = memref.load %c[%i, %j] : memref<6x4xf32>
        %f = math.fma %x, %y, %w : f32
        memref.store %f, %c[%i, %j] : memref<6x4xf32>
      }
    }
  }
  %v = memref.load %a[%c0, %c0] : memref<6x2xf32>
  memref.store %v, %first[] : memref<f32>
  func.return
}

// -----

// Two contractions in one row group (a layer, its relu, and a 3-column layer after it, as
// W2b's last two): the second is tiled on the same blocks of 3 rows, after the first and
// the segment between them, so each of its rows has its own accumulator; the relu, which
// computes its A for it alone, moves into its packing, and `%h` is never written.
// CHECK-LABEL: func.func @two_layers
// CHECK-SAME: (%[[X:.*]]: memref<6x2xf32>, %{{.*}}: memref<2x4xf32>, %[[Z:.*]]: memref<6x4xf32>, %[[W2:.*]]: memref<4x3xf32>, %[[Y:.*]]: memref<6x3xf32>, %{{.*}}: memref<96xi8>)
// CHECK-NOT: memref.view
// CHECK: scf.for %[[I0:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK: memref.alloca() {alignment = 64 : i64} : memref<2x3xf32>
// CHECK: vector.fma
// CHECK: vector.store %{{.*}}, %[[Z]]
// The second layer's fill is its accumulators' start (no store of it to Y); its A: relu of
// the first layer's rows of this block, computed into the packed buffer.
// CHECK-NOT: memref.store %{{.*}}, %[[Y]]
// CHECK: %[[PACKED:.*]] = memref.alloca() {alignment = 64 : i64} : memref<4x3xf32>
// CHECK-NEXT: scf.for %[[PK:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK-NEXT: %[[H:.*]] = memref.load %[[Z]][%[[I0]], %[[PK]]] : memref<6x4xf32>
// CHECK-NEXT: %[[R:.*]] = arith.maximumf %[[H]], %{{.*}} : f32
// CHECK-NEXT: memref.store %[[R]], %[[PACKED]][%[[PK]], %{{.*}}] : memref<4x3xf32>
// Three rows, three masked accumulators carried through k.
// CHECK: vector.broadcast %zero
// CHECK-NEXT: %{{.*}}, %{{.*}}, %{{.*}} = scf.for %{{.*}} = {{.*}} -> (vector<4xf32>, vector<4xf32>, vector<4xf32>) {
// CHECK-COUNT-3: vector.fma
// CHECK: scf.yield
// CHECK-COUNT-3: vector.maskedstore %[[Y]]
// CHECK-NOT: math.fma
func.func @two_layers(%x: memref<6x2xf32>, %w1: memref<2x4xf32>, %z: memref<6x4xf32>, %w2: memref<4x3xf32>, %y: memref<6x3xf32>, %workspace: memref<96xi8>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c3 = arith.constant 3 : index
  %c4 = arith.constant 4 : index
  %c6 = arith.constant 6 : index
  %zero = arith.constant 0.0 : f32
  %h = memref.view %workspace[%c0][] : memref<96xi8> to memref<6x4xf32>
  scf.for %i = %c0 to %c6 step %c1 {
    scf.for %j = %c0 to %c4 step %c1 {
      memref.store %zero, %z[%i, %j] : memref<6x4xf32>
    }
    scf.for %k = %c0 to %c2 step %c1 {
      scf.for %j = %c0 to %c4 step %c1 {
        %a = memref.load %x[%i, %k] : memref<6x2xf32>
        %b = memref.load %w1[%k, %j] : memref<2x4xf32>
        %c = memref.load %z[%i, %j] : memref<6x4xf32>
        %f = math.fma %a, %b, %c : f32
        memref.store %f, %z[%i, %j] : memref<6x4xf32>
      }
    }
    scf.for %j = %c0 to %c4 step %c1 {
      %v = memref.load %z[%i, %j] : memref<6x4xf32>
      %r = arith.maximumf %v, %zero : f32
      memref.store %r, %h[%i, %j] : memref<6x4xf32>
    }
    scf.for %j = %c0 to %c3 step %c1 {
      memref.store %zero, %y[%i, %j] : memref<6x3xf32>
    }
    scf.for %k = %c0 to %c4 step %c1 {
      scf.for %j = %c0 to %c3 step %c1 {
        %a = memref.load %h[%i, %k] : memref<6x4xf32>
        %b = memref.load %w2[%k, %j] : memref<4x3xf32>
        %c = memref.load %y[%i, %j] : memref<6x3xf32>
        %f = math.fma %a, %b, %c : f32
        memref.store %f, %y[%i, %j] : memref<6x3xf32>
      }
    }
  }
  func.return
}

// -----

// Two blocks of rows or more read B from panels packed once before the row loop, into bytes
// added at the end of the workspace (B may be megabytes; the workspace is allocated once per
// compiled function, a heap buffer would be once per call): the 40-byte workspace becomes
// 64 + 128 bytes, its old view untouched, the panels a view at byte 64. Panel-major and
// k-major inside a panel, each panel as wide as a tile (2 vectors of 4 here), line-aligned.
// The micro-kernel loads B from its panel at (p, k).
// CHECK-LABEL: func.func @packed_b
// CHECK-SAME: (%[[A:.*]]: memref<6x2xf32>, %[[B:.*]]: memref<2x16xf32>, %[[C:.*]]: memref<6x16xf32>, %[[WS:.*]]: memref<192xi8>)
// CHECK: memref.view %[[WS]][%{{.*}}][] : memref<192xi8> to memref<10xf32>
// CHECK: %[[AT:.*]] = arith.constant 64 : index
// CHECK: %[[PB:.*]] = memref.view %[[WS]][%[[AT]]][] : memref<192xi8> to memref<2x2x8xf32>
// CHECK-NEXT: scf.for %[[P:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK-NEXT: %[[J0:.*]] = arith.muli %[[P]], %{{.*}} : index
// CHECK-NEXT: scf.for %[[PK:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK-NEXT: %[[V0:.*]] = vector.load %[[B]][%[[PK]], %[[J0]]] : memref<2x16xf32>, vector<4xf32>
// CHECK-NEXT: vector.store %[[V0]], %[[PB]][%[[P]], %[[PK]], %{{.*}}] : memref<2x2x8xf32>, vector<4xf32>
// CHECK-NEXT: %[[J1:.*]] = arith.addi %[[J0]], %{{.*}} : index
// CHECK-NEXT: %[[V1:.*]] = vector.load %[[B]][%[[PK]], %[[J1]]] : memref<2x16xf32>, vector<4xf32>
// CHECK-NEXT: vector.store %[[V1]], %[[PB]][%[[P]], %[[PK]], %{{.*}}] : memref<2x2x8xf32>, vector<4xf32>
// The loop over the two blocks of 3 rows, and in it the loop over the two panels.
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK: memref.alloca() {alignment = 64 : i64} : memref<2x3xf32>
// CHECK: arith.muli %[[TP:[0-9a-z_]+]], %{{.*}} : index
// CHECK: scf.for %[[K:[0-9a-z_]+]] = {{.*}} iter_args({{.*}}) -> (vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>) {
// CHECK-NEXT: vector.load %[[PB]][%[[TP]], %[[K]], %{{.*}}] : memref<2x2x8xf32>, vector<4xf32>
// CHECK-NEXT: vector.load %[[PB]][%[[TP]], %[[K]], %{{.*}}] : memref<2x2x8xf32>, vector<4xf32>
// CHECK-NOT: vector.load %[[B]]
// CHECK-NOT: memref.alloc(
// CHECK: func.return
func.func @packed_b(%a: memref<6x2xf32>, %b: memref<2x16xf32>, %c: memref<6x16xf32>, %ws: memref<40xi8>) {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %t = memref.view %ws[%c0][] : memref<40xi8> to memref<10xf32>
  memref.store %zero, %t[%c0] : memref<10xf32>
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c6 = arith.constant 6 : index
  %c16 = arith.constant 16 : index
  scf.for %i = %c0 to %c6 step %c1 {
    scf.for %k = %c0 to %c2 step %c1 {
      scf.for %j = %c0 to %c16 step %c1 {
        %x = memref.load %a[%i, %k] : memref<6x2xf32>
        %y = memref.load %b[%k, %j] : memref<2x16xf32>
        %z = memref.load %c[%i, %j] : memref<6x16xf32>
        %r = math.fma %x, %y, %z : f32
        memref.store %r, %c[%i, %j] : memref<6x16xf32>
      }
    }
  }
  func.return
}

// -----

// Fills that stay: one of only some of the columns (the others keep what C held), and one
// of a value computed in the row loop. The micro-kernels then load C, as without a fill.
// CHECK-LABEL: func.func @fills_kept
// CHECK-SAME: (%{{.*}}: memref<4x2xf32>, %{{.*}}: memref<2x8xf32>, %[[C:.*]]: memref<4x8xf32>, %[[D:.*]]: memref<4x8xf32>, %{{.*}}: memref<4xf32>)
// CHECK: memref.store %{{.*}}, %[[C]]
// CHECK: vector.load %[[C]]
// CHECK: vector.fma
// CHECK: memref.store %{{.*}}, %[[D]]
// CHECK: vector.load %[[D]]
// CHECK: vector.fma
func.func @fills_kept(%a: memref<4x2xf32>, %b: memref<2x8xf32>, %c: memref<4x8xf32>, %d: memref<4x8xf32>, %init: memref<4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c4 = arith.constant 4 : index
  %c8 = arith.constant 8 : index
  %zero = arith.constant 0.0 : f32
  scf.for %i = %c0 to %c4 step %c1 {
    scf.for %j = %c0 to %c4 step %c1 {
      memref.store %zero, %c[%i, %j] : memref<4x8xf32>
    }
    scf.for %k = %c0 to %c2 step %c1 {
      scf.for %j = %c0 to %c8 step %c1 {
        %x = memref.load %a[%i, %k] : memref<4x2xf32>
        %y = memref.load %b[%k, %j] : memref<2x8xf32>
        %z = memref.load %c[%i, %j] : memref<4x8xf32>
        %r = math.fma %x, %y, %z : f32
        memref.store %r, %c[%i, %j] : memref<4x8xf32>
      }
    }
  }
  scf.for %i = %c0 to %c4 step %c1 {
    %v = memref.load %init[%i] : memref<4xf32>
    scf.for %j = %c0 to %c8 step %c1 {
      memref.store %v, %d[%i, %j] : memref<4x8xf32>
    }
    scf.for %k = %c0 to %c2 step %c1 {
      scf.for %j = %c0 to %c8 step %c1 {
        %x = memref.load %a[%i, %k] : memref<4x2xf32>
        %y = memref.load %b[%k, %j] : memref<2x8xf32>
        %z = memref.load %d[%i, %j] : memref<4x8xf32>
        %r = math.fma %x, %y, %z : f32
        memref.store %r, %d[%i, %j] : memref<4x8xf32>
      }
    }
  }
  func.return
}
