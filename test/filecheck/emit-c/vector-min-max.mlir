// RUN: aidjit-opt %s -t c | filecheck %s

// A select of one of two values by their ordered `<` or `>`, in either order, is x86's min or
// max of them: `a < b ? a : b` is minps(a, b) and `a > b ? a : b` maxps(a, b), NaN and signed
// zeros included (the second operand where the comparison is false), so expand-math's clamps
// are one instruction each. Any other select stays a blend through the comparison's mask.
// CHECK-LABEL: void f(
// CHECK: const aidjit_v8f32 [[A:v[0-9]+]] = aidjit_load_v8f32(&arg0[0]);
// CHECK-NEXT: const aidjit_v8f32 [[B:v[0-9]+]] = aidjit_load_v8f32(&arg1[0]);
// CHECK-NEXT: const aidjit_v8f32 [[C:v[0-9]+]] = aidjit_load_v8f32(&arg2[0]);
// CHECK-NEXT: const aidjit_v8i32 [[LT:v[0-9]+]] = [[A]] < [[B]];
// CHECK-NEXT: const aidjit_v8i32 {{v[0-9]+}} = [[A]] > [[B]];
// CHECK-NEXT: const aidjit_v8i32 [[LE:v[0-9]+]] = [[A]] <= [[B]];
// CHECK-NEXT: const aidjit_v8f32 {{v[0-9]+}} = _mm256_min_ps([[A]], [[B]]);
// CHECK-NEXT: const aidjit_v8f32 {{v[0-9]+}} = _mm256_max_ps([[B]], [[A]]);
// CHECK-NEXT: const aidjit_v8f32 {{v[0-9]+}} = _mm256_max_ps([[A]], [[B]]);
// CHECK-NEXT: const aidjit_v8f32 {{v[0-9]+}} = _mm256_min_ps([[B]], [[A]]);
// `<=` differs from minps on signed zeros, and a select of other values is no min: blends.
// CHECK-NEXT: (aidjit_v8f32)(((aidjit_v8i32)[[A]] & [[LE]]) | ((aidjit_v8i32)[[B]] & ~[[LE]]));
// CHECK-NEXT: (aidjit_v8f32)(((aidjit_v8i32)[[A]] & [[LT]]) | ((aidjit_v8i32)[[C]] & ~[[LT]]));
// f64 lanes use the _pd intrinsic of their width.
// CHECK-LABEL: void g(
// CHECK: _mm256_min_pd(
func.func @f(%x: memref<8xf32>, %y: memref<8xf32>, %z: memref<8xf32>, %out: memref<6x8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c3 = arith.constant 3 : index
  %c4 = arith.constant 4 : index
  %c5 = arith.constant 5 : index
  %a = vector.load %x[%c0] : memref<8xf32>, vector<8xf32>
  %b = vector.load %y[%c0] : memref<8xf32>, vector<8xf32>
  %c = vector.load %z[%c0] : memref<8xf32>, vector<8xf32>
  %lt = arith.cmpf olt, %a, %b : vector<8xf32>
  %gt = arith.cmpf ogt, %a, %b : vector<8xf32>
  %le = arith.cmpf ole, %a, %b : vector<8xf32>
  %min = arith.select %lt, %a, %b : vector<8xi1>, vector<8xf32>
  %max_swapped = arith.select %lt, %b, %a : vector<8xi1>, vector<8xf32>
  %max = arith.select %gt, %a, %b : vector<8xi1>, vector<8xf32>
  %min_swapped = arith.select %gt, %b, %a : vector<8xi1>, vector<8xf32>
  %blend = arith.select %le, %a, %b : vector<8xi1>, vector<8xf32>
  %other = arith.select %lt, %a, %c : vector<8xi1>, vector<8xf32>
  vector.store %min, %out[%c0, %c0] : memref<6x8xf32>, vector<8xf32>
  vector.store %max_swapped, %out[%c1, %c0] : memref<6x8xf32>, vector<8xf32>
  vector.store %max, %out[%c2, %c0] : memref<6x8xf32>, vector<8xf32>
  vector.store %min_swapped, %out[%c3, %c0] : memref<6x8xf32>, vector<8xf32>
  vector.store %blend, %out[%c4, %c0] : memref<6x8xf32>, vector<8xf32>
  vector.store %other, %out[%c5, %c0] : memref<6x8xf32>, vector<8xf32>
  func.return
}

func.func @g(%x: memref<4xf64>, %y: memref<4xf64>, %out: memref<4xf64>) {
  %c0 = arith.constant 0 : index
  %a = vector.load %x[%c0] : memref<4xf64>, vector<4xf64>
  %b = vector.load %y[%c0] : memref<4xf64>, vector<4xf64>
  %lt = arith.cmpf olt, %a, %b : vector<4xf64>
  %min = arith.select %lt, %a, %b : vector<4xi1>, vector<4xf64>
  vector.store %min, %out[%c0] : memref<4xf64>, vector<4xf64>
  func.return
}
