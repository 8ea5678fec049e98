// RUN: aidjit-opt %s --split-input-file -p expand-math | filecheck %s
// RUN: aidjit-opt %s --split-input-file -p 'expand-math{functions=exp,log}' | filecheck %s --check-prefix=DEFAULT

// exp on f32: the input clamped (NaN passes the ordered compares), k = round(x / ln2) by the
// 1.5 * 2^23 shift, a Cody-Waite reduction and a Horner polynomial in fma, and 2^k built from
// bits as two factors, so overflow and the subnormals come from the last multiply.
// CHECK-LABEL: func.func @exp_f32
// CHECK-SAME: (%[[X:.*]]: f32)
// CHECK-NOT: math.exp
// CHECK: %[[HI:.*]] = arith.constant 8.880000e+01 : f32
// CHECK-NEXT: %[[OVER:.*]] = arith.cmpf ogt, %[[X]], %[[HI]] : f32
// CHECK-NEXT: %[[C1:.*]] = arith.select %[[OVER]], %[[HI]], %[[X]] : f32
// CHECK: %[[UNDER:.*]] = arith.cmpf olt, %[[C1]], %{{.*}} : f32
// CHECK-NEXT: %[[C2:.*]] = arith.select %[[UNDER]], %{{.*}}, %[[C1]] : f32
// CHECK: %[[SHIFTED:.*]] = math.fma %[[C2]], %{{.*}}, %{{.*}} : f32
// CHECK: %[[BITS:.*]] = arith.bitcast %[[SHIFTED]] : f32 to i32
// CHECK-NEXT: %[[MAGIC:.*]] = arith.constant 1262485504 : i32
// CHECK-NEXT: %[[K:.*]] = arith.subi %[[BITS]], %[[MAGIC]] : i32
// CHECK: %[[KHALF:.*]] = arith.shrsi %[[K]], %{{.*}} : i32
// CHECK: arith.shli %{{.*}}, %{{.*}} : i32
// CHECK: %[[P1:.*]] = arith.bitcast %{{.*}} : i32 to f32
// CHECK: %[[P2:.*]] = arith.bitcast %{{.*}} : i32 to f32
// CHECK-NEXT: %[[R:.*]] = arith.mulf %{{.*}}, %[[P2]] : f32
// CHECK-NEXT: func.return %[[R]] : f32
func.func @exp_f32(%x: f32) -> f32 {
  %r = math.exp %x : f32
  func.return %r : f32
}

// -----

// log on f64: subnormals scaled by 2^52, the exponent and mantissa split off the i64 bits
// at sqrt(1/2), fdlibm's s = f / (2 + f), then the special values by select: +inf, +-0 (-inf),
// negatives (NaN) and NaN itself, which is returned as it came.
// CHECK-LABEL: func.func @log_f64
// CHECK-SAME: (%[[X:.*]]: f64)
// CHECK-NOT: math.log
// CHECK: %[[TINY:.*]] = arith.cmpf olt, %[[X]], %{{.*}} : f64
// CHECK: %[[SCALED:.*]] = arith.select %[[TINY]], %{{.*}}, %[[X]] : f64
// CHECK: %[[BITS:.*]] = arith.bitcast %[[SCALED]] : f64 to i64
// CHECK: arith.shrsi %{{.*}}, %{{.*}} : i64
// CHECK: arith.andi %{{.*}}, %{{.*}} : i64
// CHECK: arith.sitofp %{{.*}} : i64 to f64
// CHECK: arith.divf %{{.*}}, %{{.*}} : f64
// CHECK: %[[INF:.*]] = arith.constant 0x7ff0000000000000 : f64
// CHECK-NEXT: %[[ISINF:.*]] = arith.cmpf oeq, %[[X]], %[[INF]] : f64
// CHECK-NEXT: %[[L1:.*]] = arith.select %[[ISINF]], %[[X]], %{{.*}} : f64
// CHECK: %[[ISZERO:.*]] = arith.cmpf oeq, %[[X]], %{{.*}} : f64
// CHECK-NEXT: %[[L2:.*]] = arith.select %[[ISZERO]], %{{.*}}, %[[L1]] : f64
// CHECK: %[[NEGATIVE:.*]] = arith.cmpf olt, %[[X]], %{{.*}} : f64
// CHECK-NEXT: %[[L3:.*]] = arith.select %[[NEGATIVE]], %{{.*}}, %[[L2]] : f64
// CHECK-NEXT: %[[ISNAN:.*]] = arith.cmpf uno, %[[X]], %[[X]] : f64
// CHECK-NEXT: %[[L4:.*]] = arith.select %[[ISNAN]], %[[X]], %[[L3]] : f64
// CHECK-NEXT: func.return %[[L4]] : f64
func.func @log_f64(%x: f64) -> f64 {
  %r = math.log %x : f64
  func.return %r : f64
}

// -----

// tanh on vector<16xf32>: the rational x P(x^2) / Q(x^2) lane-wise, with splat constants, on x
// clamped to +-9 by selects of ordered comparisons (NaN passes; the C emitter makes each a min
// or max instruction), and x itself below 4e-4 (so tanh(-0) = -0). With functions=exp,log (the
// default pipeline's choice on AVX-512) tanh is left to libmvec.
// CHECK-LABEL: func.func @tanh_vector
// CHECK-SAME: (%[[X:.*]]: vector<16xf32>)
// CHECK-NOT: math.tanh
// CHECK: %[[NINE:.*]] = arith.constant dense<9.000000e+00> : vector<16xf32>
// CHECK-NEXT: %[[OVER:.*]] = arith.cmpf ogt, %[[X]], %[[NINE]] : vector<16xf32>
// CHECK-NEXT: %[[HI:.*]] = arith.select %[[OVER]], %[[NINE]], %[[X]] : vector<16xi1>, vector<16xf32>
// CHECK-NEXT: %[[MINUS_NINE:.*]] = arith.constant dense<-9.000000e+00> : vector<16xf32>
// CHECK-NEXT: %[[UNDER:.*]] = arith.cmpf olt, %[[HI]], %[[MINUS_NINE]] : vector<16xf32>
// CHECK-NEXT: %[[C:.*]] = arith.select %[[UNDER]], %[[MINUS_NINE]], %[[HI]] : vector<16xi1>, vector<16xf32>
// CHECK-NEXT: %[[Z:.*]] = arith.mulf %[[C]], %[[C]] : vector<16xf32>
// CHECK-COUNT-6: math.fma %{{.*}}, %[[Z]], %{{.*}} : vector<16xf32>
// CHECK: %[[P:.*]] = arith.mulf %[[C]], %{{.*}} : vector<16xf32>
// CHECK-COUNT-3: math.fma %{{.*}}, %[[Z]], %{{.*}} : vector<16xf32>
// CHECK: %[[R:.*]] = arith.divf %[[P]], %{{.*}} : vector<16xf32>
// CHECK-NEXT: %[[ABS:.*]] = math.absf %[[X]] : vector<16xf32>
// CHECK-NEXT: %[[TINY:.*]] = arith.constant dense<4.000000e-04> : vector<16xf32>
// CHECK-NEXT: %[[IS_TINY:.*]] = arith.cmpf olt, %[[ABS]], %[[TINY]] : vector<16xf32>
// CHECK-NEXT: %[[T:.*]] = arith.select %[[IS_TINY]], %[[X]], %[[R]] : vector<16xi1>, vector<16xf32>
// CHECK-NEXT: func.return %[[T]] : vector<16xf32>
// DEFAULT-LABEL: func.func @tanh_vector
// DEFAULT-NEXT: math.tanh %{{.*}} : vector<16xf32>
func.func @tanh_vector(%x: vector<16xf32>) -> vector<16xf32> {
  %r = math.tanh %x : vector<16xf32>
  func.return %r : vector<16xf32>
}

// -----

// What the pass leaves alone: sqrt and pow (libm; sqrt is one instruction), and math on
// other types.
// CHECK-LABEL: func.func @untouched
// CHECK-NEXT: math.sqrt %{{.*}} : f32
// CHECK-NEXT: math.powf %{{.*}}, %{{.*}} : f64
// CHECK-NEXT: math.exp %{{.*}} : f16
func.func @untouched(%x: f32, %y: f64, %h: f16) -> (f32, f64, f16) {
  %s = math.sqrt %x : f32
  %p = math.powf %y, %y : f64
  %e = math.exp %h : f16
  func.return %s, %p, %e : f32, f64, f16
}
