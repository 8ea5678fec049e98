// RUN: aidjit-opt %s --split-input-file -t c | filecheck %s

// vector.shuffle of two vectors of one type is gcc's __builtin_shuffle, its mask a brace list
// of the integer vector type as wide as the lanes (int32 lanes for f32, int64 for f64).

// CHECK-LABEL: void swap_halves(
// CHECK: const aidjit_v4f32 [[A:v[0-9]+]] = aidjit_load_v4f32(&arg0[0]);
// CHECK-NEXT: const aidjit_v4f32 [[B:v[0-9]+]] = aidjit_load_v4f32(&arg0[4]);
// CHECK-NEXT: const aidjit_v4f32 [[S:v[0-9]+]] = __builtin_shuffle([[A]], [[B]], (aidjit_v4i32){2, 3, 6, 7});
// CHECK-NEXT: aidjit_store_v4f32(&arg1[0], [[S]]);
func.func @swap_halves(%x: memref<8xf32>, %y: memref<4xf32>) {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %a = vector.load %x[%c0] : memref<8xf32>, vector<4xf32>
  %b = vector.load %x[%c4] : memref<8xf32>, vector<4xf32>
  %s = vector.shuffle %a, %b [2, 3, 6, 7] : vector<4xf32>, vector<4xf32>
  vector.store %s, %y[%c0] : memref<4xf32>, vector<4xf32>
  func.return
}

// -----

// CHECK-LABEL: void interleave(
// CHECK: __builtin_shuffle({{v[0-9]+}}, {{v[0-9]+}}, (aidjit_v8i64){0, 8, 2, 10, 4, 12, 6, 14});
func.func @interleave(%x: memref<16xf64>, %y: memref<8xf64>) {
  %c0 = arith.constant 0 : index
  %c8 = arith.constant 8 : index
  %a = vector.load %x[%c0] : memref<16xf64>, vector<8xf64>
  %b = vector.load %x[%c8] : memref<16xf64>, vector<8xf64>
  %s = vector.shuffle %a, %b [0, 8, 2, 10, 4, 12, 6, 14] : vector<8xf64>, vector<8xf64>
  vector.store %s, %y[%c0] : memref<8xf64>, vector<8xf64>
  func.return
}

