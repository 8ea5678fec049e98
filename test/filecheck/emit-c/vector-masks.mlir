// RUN: aidjit-opt %s -t c | filecheck %s

// Masks of different lane widths combined: a comparison of f32 lanes gives 32-bit lanes, one of
// i64 lanes 64-bit lanes (GCC's rule), so arith.andi converts the second mask to the first's
// lane width before `&` (GCC rejects `&` of the two), and arith.select converts the result to
// the lane width of the values it blends (argmin's first-NaN rule over int64 indices).
// CHECK-LABEL: void f(
// CHECK: const aidjit_v4i32 [[EQ:v[0-9]+]] = {{.*}} == {{.*}};
// CHECK: const aidjit_v4i64 [[LT:v[0-9]+]] = {{.*}} < {{.*}};
// CHECK-NEXT: const aidjit_v4i32 [[BOTH:v[0-9]+]] = [[EQ]] & __builtin_convertvector([[LT]], aidjit_v4i32);
// CHECK-NEXT: const aidjit_v4i64 {{v[0-9]+}} = (aidjit_v4i64)(((aidjit_v4i64){{.*}} & __builtin_convertvector([[BOTH]], aidjit_v4i64)) | ((aidjit_v4i64){{.*}} & ~__builtin_convertvector([[BOTH]], aidjit_v4i64)));
func.func @f(%x: memref<4xf32>, %y: memref<4xf32>, %i: memref<4xi64>, %j: memref<4xi64>, %out: memref<4xi64>) {
  %c0 = arith.constant 0 : index
  %a = vector.load %x[%c0] : memref<4xf32>, vector<4xf32>
  %b = vector.load %y[%c0] : memref<4xf32>, vector<4xf32>
  %p = vector.load %i[%c0] : memref<4xi64>, vector<4xi64>
  %q = vector.load %j[%c0] : memref<4xi64>, vector<4xi64>
  %eq = arith.cmpf oeq, %a, %b : vector<4xf32>
  %lt = arith.cmpi slt, %p, %q : vector<4xi64>
  %both = arith.andi %eq, %lt : vector<4xi1>
  %r = arith.select %both, %p, %q : vector<4xi1>, vector<4xi64>
  vector.store %r, %out[%c0] : memref<4xi64>, vector<4xi64>
  func.return
}
