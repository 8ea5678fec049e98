// RUN: aidjit-opt %s --split-input-file -p canonicalize | filecheck %s

// Constant operands fold to one graph.constant computed by the op's numpy forward.
// CHECK-LABEL: func.func @fold_constants
func.func @fold_constants() -> tensor<2xf32> {
  %a = graph.constant dense<[1.0, 4.0]> : tensor<2xf32>
  %b = graph.constant dense<2.0> : tensor<f32>
  %0 = graph.multiply %a, %b : tensor<2xf32>, tensor<f32> -> tensor<2xf32>
  %1 = graph.sqrt %0 : tensor<2xf32>
  // CHECK-NEXT: %[[C:.*]] = graph.constant dense<[1.41421354, 2.82842708]> : tensor<2xf32>
  // CHECK-NEXT: func.return %[[C]] : tensor<2xf32>
  func.return %1 : tensor<2xf32>
}

// -----

// x * 1, 1 * x, x / 1, x ** 1, x - 0.0 and x + -0.0 are exactly x in IEEE arithmetic.
// CHECK-LABEL: func.func @exact_identities
// CHECK-SAME: (%[[X:.*]]: tensor<3xf32>)
func.func @exact_identities(%x: tensor<3xf32>) -> tensor<3xf32> {
  %one = graph.constant dense<1.0> : tensor<f32>
  %zero = graph.constant dense<0.0> : tensor<3xf32>
  %negzero = graph.constant dense<-0.0> : tensor<f32>
  %0 = graph.multiply %x, %one : tensor<3xf32>, tensor<f32> -> tensor<3xf32>
  %1 = graph.multiply %one, %0 : tensor<f32>, tensor<3xf32> -> tensor<3xf32>
  %2 = graph.divide %1, %one : tensor<3xf32>, tensor<f32> -> tensor<3xf32>
  %3 = graph.power %2, %one : tensor<3xf32>, tensor<f32> -> tensor<3xf32>
  %4 = graph.subtract %3, %zero : tensor<3xf32>, tensor<3xf32> -> tensor<3xf32>
  %5 = graph.add %4, %negzero : tensor<3xf32>, tensor<f32> -> tensor<3xf32>
  // CHECK-NEXT: func.return %[[X]] : tensor<3xf32>
  func.return %5 : tensor<3xf32>
}

// -----

// x + 0.0 (-0.0 + 0.0 is +0.0) and x * 0 (nan * 0 is nan) are not identities: they stay.
// CHECK-LABEL: func.func @inexact_identities_stay
func.func @inexact_identities_stay(%x: tensor<3xf32>) -> (tensor<3xf32>, tensor<3xf32>) {
  %zero = graph.constant dense<0.0> : tensor<f32>
  // CHECK: graph.add %x, %{{.*}} : tensor<3xf32>, tensor<f32> -> tensor<3xf32>
  %0 = graph.add %x, %zero : tensor<3xf32>, tensor<f32> -> tensor<3xf32>
  // CHECK: graph.multiply %x, %{{.*}} : tensor<3xf32>, tensor<f32> -> tensor<3xf32>
  %1 = graph.multiply %x, %zero : tensor<3xf32>, tensor<f32> -> tensor<3xf32>
  func.return %0, %1 : tensor<3xf32>, tensor<3xf32>
}

// -----

// An identity operand that broadcasts x to a larger shape is not a no-op.
// CHECK-LABEL: func.func @broadcasting_identity_stays
func.func @broadcasting_identity_stays(%x: tensor<3xf32>) -> tensor<2x3xf32> {
  %one = graph.constant dense<1.0> : tensor<2x3xf32>
  // CHECK: graph.multiply %x, %{{.*}} : tensor<3xf32>, tensor<2x3xf32> -> tensor<2x3xf32>
  %0 = graph.multiply %x, %one : tensor<3xf32>, tensor<2x3xf32> -> tensor<2x3xf32>
  func.return %0 : tensor<2x3xf32>
}

// -----

// CHECK-LABEL: func.func @double_negation
// CHECK-SAME: (%[[X:.*]]: tensor<3xf64>)
func.func @double_negation(%x: tensor<3xf64>) -> tensor<3xf64> {
  %0 = graph.negate %x : tensor<3xf64>
  %1 = graph.negate %0 : tensor<3xf64>
  // CHECK-NEXT: func.return %[[X]] : tensor<3xf64>
  func.return %1 : tensor<3xf64>
}

// -----

// Two transposes compose into one; when they cancel, nothing is left.
// CHECK-LABEL: func.func @transposes
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x4xf32>)
func.func @transposes(%x: tensor<2x3x4xf32>) -> (tensor<2x3x4xf32>, tensor<4x2x3xf32>) {
  %0 = graph.transpose %x {perm = array<i64: 1, 0, 2>} : tensor<2x3x4xf32> -> tensor<3x2x4xf32>
  %1 = graph.transpose %0 {perm = array<i64: 1, 0, 2>} : tensor<3x2x4xf32> -> tensor<2x3x4xf32>
  %2 = graph.transpose %0 {perm = array<i64: 2, 1, 0>} : tensor<3x2x4xf32> -> tensor<4x2x3xf32>
  // CHECK-NEXT: %[[T:.*]] = graph.transpose %[[X]] {perm = array<i64: 2, 0, 1>} : tensor<2x3x4xf32> -> tensor<4x2x3xf32>
  // CHECK-NEXT: func.return %[[X]], %[[T]] : tensor<2x3x4xf32>, tensor<4x2x3xf32>
  func.return %1, %2 : tensor<2x3x4xf32>, tensor<4x2x3xf32>
}

// -----

// reshape(reshape(x)) keeps only the last shape; reshaping to the same shape is x.
// CHECK-LABEL: func.func @reshapes
// CHECK-SAME: (%[[X:.*]]: tensor<2x6xf32>)
func.func @reshapes(%x: tensor<2x6xf32>) -> (tensor<3x4xf32>, tensor<2x6xf32>) {
  %0 = graph.reshape %x : tensor<2x6xf32> -> tensor<12xf32>
  %1 = graph.reshape %0 : tensor<12xf32> -> tensor<3x4xf32>
  %2 = graph.reshape %x : tensor<2x6xf32> -> tensor<2x6xf32>
  // CHECK-NEXT: %[[R:.*]] = graph.reshape %[[X]] : tensor<2x6xf32> -> tensor<3x4xf32>
  // CHECK-NEXT: func.return %[[R]], %[[X]] : tensor<3x4xf32>, tensor<2x6xf32>
  func.return %1, %2 : tensor<3x4xf32>, tensor<2x6xf32>
}

// -----

// Identities of the ops issue 5 added: a full slice, a zero pad, a cast to the same type, and a
// where whose constant condition picks one side everywhere (a mixed condition stays).
// CHECK-LABEL: func.func @new_identities
// CHECK-SAME: (%[[X:.*]]: tensor<2x3xf32>, %[[Y:.*]]: tensor<2x3xf32>)
func.func @new_identities(%x: tensor<2x3xf32>, %y: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>) {
  %0 = graph.slice %x {start = array<i64: 0, 0>, strides = array<i64: 1, 1>} : tensor<2x3xf32> -> tensor<2x3xf32>
  %1 = graph.pad %x {low = array<i64: 0, 0>, high = array<i64: 0, 0>, interior = array<i64: 0, 0>} : tensor<2x3xf32> -> tensor<2x3xf32>
  %2 = graph.astype %x : tensor<2x3xf32> -> tensor<2x3xf32>
  %ones = graph.constant dense<1.0> : tensor<2x3xf32>
  %zeros = graph.constant dense<0> : tensor<3xi64>
  %mixed = graph.constant dense<[1.0, 0.0, 1.0]> : tensor<3xf32>
  %3 = graph.where %ones, %x, %y : tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32> -> tensor<2x3xf32>
  %4 = graph.where %zeros, %x, %y : tensor<3xi64>, tensor<2x3xf32>, tensor<2x3xf32> -> tensor<2x3xf32>
  %5 = graph.where %mixed, %x, %y : tensor<3xf32>, tensor<2x3xf32>, tensor<2x3xf32> -> tensor<2x3xf32>
  // CHECK-NEXT: %[[M:.*]] = graph.constant dense<[1.000000e+00, 0.000000e+00, 1.000000e+00]> : tensor<3xf32>
  // CHECK-NEXT: %[[W:.*]] = graph.where %[[M]], %[[X]], %[[Y]]
  // CHECK-NEXT: func.return %[[X]], %[[X]], %[[X]], %[[X]], %[[Y]], %[[W]]
  func.return %0, %1, %2, %3, %4, %5 : tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>
}

// -----

// A concat of one operand is that operand.
// CHECK-LABEL: func.func @concat_of_one
// CHECK-NEXT: func.return %x : tensor<2x3xf32>
func.func @concat_of_one(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = graph.concat %x {axis = 1} : tensor<2x3xf32> -> tensor<2x3xf32>
  func.return %0 : tensor<2x3xf32>
}

// -----

// Inference batch_norm after a convolution and its bias folds into the convolution (the seed's
// Conv+BN fusion): the filters scaled per output channel by s = w / sqrt(var + eps), the bias
// replaced by b * s + (beta - mean * s). No batch_norm is left.
// CHECK-LABEL: func.func @fold_batch_norm_into_conv
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x6x6xf32>, %[[W:.*]]: tensor<4x3x3x3xf32>, %[[B:.*]]: tensor<4xf32>, %[[G:.*]]: tensor<4xf32>, %[[BETA:.*]]: tensor<4xf32>, %[[M:.*]]: tensor<4xf32>, %[[V:.*]]: tensor<4xf32>)
// CHECK-NOT: graph.batch_norm_inference
// CHECK: %[[EPS:.*]] = graph.constant dense<1.000000e-05> : tensor<f32>
// CHECK: %[[VE:.*]] = graph.add %[[V]], %[[EPS]]
// CHECK: %[[STD:.*]] = graph.sqrt %[[VE]]
// CHECK: %[[S:.*]] = graph.divide %[[G]], %[[STD]]
// CHECK: %[[MS:.*]] = graph.multiply %[[M]], %[[S]]
// CHECK: %[[T:.*]] = graph.subtract %[[BETA]], %[[MS]]
// CHECK: %[[BS:.*]] = graph.multiply %[[B]], %[[S]]
// CHECK: %[[SHIFT:.*]] = graph.add %[[BS]], %[[T]]
// CHECK: %[[S4:.*]] = graph.reshape %[[S]] : tensor<4xf32> -> tensor<4x1x1x1xf32>
// CHECK: %[[W2:.*]] = graph.multiply %[[W]], %[[S4]] : tensor<4x3x3x3xf32>, tensor<4x1x1x1xf32> -> tensor<4x3x3x3xf32>
// CHECK: %[[Y:.*]] = graph.conv2d %[[X]], %[[W2]] : tensor<2x3x6x6xf32>, tensor<4x3x3x3xf32> -> tensor<2x4x4x4xf32>
// CHECK: %[[SHIFT4:.*]] = graph.reshape %[[SHIFT]] : tensor<4xf32> -> tensor<1x4x1x1xf32>
// CHECK: %[[R:.*]] = graph.add %[[Y]], %[[SHIFT4]]
// CHECK: func.return %[[R]]
func.func @fold_batch_norm_into_conv(%x: tensor<2x3x6x6xf32>, %w: tensor<4x3x3x3xf32>, %b: tensor<4xf32>, %g: tensor<4xf32>, %beta: tensor<4xf32>, %m: tensor<4xf32>, %v: tensor<4xf32>) -> tensor<2x4x4x4xf32> {
  %0 = graph.conv2d %x, %w : tensor<2x3x6x6xf32>, tensor<4x3x3x3xf32> -> tensor<2x4x4x4xf32>
  %1 = graph.reshape %b : tensor<4xf32> -> tensor<1x4x1x1xf32>
  %2 = graph.add %0, %1 : tensor<2x4x4x4xf32>, tensor<1x4x1x1xf32> -> tensor<2x4x4x4xf32>
  %3 = graph.batch_norm_inference %2, %g, %beta, %m, %v {eps = 1.000000e-05 : f64} : tensor<2x4x4x4xf32>, tensor<4xf32>
  func.return %3 : tensor<2x4x4x4xf32>
}

// -----

// The convolution's result is used elsewhere too: folding would compute it twice, so the
// batch_norm stays.
// CHECK-LABEL: func.func @conv_used_twice_keeps_batch_norm
// CHECK: graph.batch_norm_inference
func.func @conv_used_twice_keeps_batch_norm(%x: tensor<1x2x4x4xf64>, %w: tensor<2x2x3x3xf64>, %g: tensor<2xf64>, %beta: tensor<2xf64>, %m: tensor<2xf64>, %v: tensor<2xf64>) -> (tensor<1x2x2x2xf64>, tensor<1x2x2x2xf64>) {
  %0 = graph.conv2d %x, %w : tensor<1x2x4x4xf64>, tensor<2x2x3x3xf64> -> tensor<1x2x2x2xf64>
  %1 = graph.batch_norm_inference %0, %g, %beta, %m, %v {eps = 1.000000e-03 : f64} : tensor<1x2x2x2xf64>, tensor<2xf64>
  func.return %1, %0 : tensor<1x2x2x2xf64>, tensor<1x2x2x2xf64>
}

// -----

// The input gradient of a padded convolution, as the tape records it: the cotangent padded by
// the kernel's reach, a full convolution over the padded input, then the pad's gradient
// cutting the border off. slice(conv2d) becomes conv2d(slice) (output rows 1..6 read input
// rows 1..8), and slice(pad) a smaller pad: only the 6x6 kept positions are computed.
// CHECK-LABEL: func.func @input_gradient_border
// CHECK-SAME: (%[[G:.*]]: tensor<2x4x6x6xf32>, %[[W:.*]]: tensor<3x4x3x3xf32>)
// CHECK-NEXT: %[[P:.*]] = graph.pad %[[G]] {low = array<i64: 0, 0, 1, 1>, high = array<i64: 0, 0, 1, 1>, interior = array<i64: 0, 0, 0, 0>} : tensor<2x4x6x6xf32> -> tensor<2x4x8x8xf32>
// CHECK-NEXT: %[[C:.*]] = graph.conv2d %[[P]], %[[W]] : tensor<2x4x8x8xf32>, tensor<3x4x3x3xf32> -> tensor<2x3x6x6xf32>
// CHECK-NEXT: func.return %[[C]]
func.func @input_gradient_border(%g: tensor<2x4x6x6xf32>, %w: tensor<3x4x3x3xf32>) -> tensor<2x3x6x6xf32> {
  %p = graph.pad %g {low = array<i64: 0, 0, 2, 2>, high = array<i64: 0, 0, 2, 2>, interior = array<i64: 0, 0, 0, 0>} : tensor<2x4x6x6xf32> -> tensor<2x4x10x10xf32>
  %c = graph.conv2d %p, %w : tensor<2x4x10x10xf32>, tensor<3x4x3x3xf32> -> tensor<2x3x8x8xf32>
  %s = graph.slice %c {start = array<i64: 0, 0, 1, 1>, strides = array<i64: 1, 1, 1, 1>} : tensor<2x3x8x8xf32> -> tensor<2x3x6x6xf32>
  func.return %s : tensor<2x3x6x6xf32>
}

// -----

// With stride 2 and dilation 2, output row y reads input rows 2y .. 2y + 4, so output rows
// 1..3 read rows 2..10: the window starts at start * stride = 2 and is (size - 1) * stride +
// (k - 1) * dilation + 1 = 9 rows. That window cuts into x itself, so the slice of the pad
// stays (a pad is only trimmed when the window keeps all of x).
// CHECK-LABEL: func.func @strided_window
// CHECK-NEXT: %[[P:.*]] = graph.pad
// CHECK-NEXT: %[[S:.*]] = graph.slice %[[P]] {start = array<i64: 0, 0, 2, 0>, strides = array<i64: 1, 1, 1, 1>} : tensor<1x2x13x13xf32> -> tensor<1x2x9x13xf32>
// CHECK-NEXT: %[[C:.*]] = graph.conv2d %[[S]], %{{.*}} stride [2, 2] dilation [2, 2] : tensor<1x2x9x13xf32>, tensor<2x2x3x3xf32> -> tensor<1x2x3x5xf32>
// CHECK-NEXT: func.return %[[C]]
func.func @strided_window(%x: tensor<1x2x11x11xf32>, %w: tensor<2x2x3x3xf32>) -> tensor<1x2x3x5xf32> {
  %p = graph.pad %x {low = array<i64: 0, 0, 1, 1>, high = array<i64: 0, 0, 1, 1>, interior = array<i64: 0, 0, 0, 0>} : tensor<1x2x11x11xf32> -> tensor<1x2x13x13xf32>
  %c = graph.conv2d %p, %w stride [2, 2] dilation [2, 2] : tensor<1x2x13x13xf32>, tensor<2x2x3x3xf32> -> tensor<1x2x5x5xf32>
  %s = graph.slice %c {start = array<i64: 0, 0, 1, 0>, strides = array<i64: 1, 1, 1, 1>} : tensor<1x2x5x5xf32> -> tensor<1x2x3x5xf32>
  func.return %s : tensor<1x2x3x5xf32>
}

// -----

// Negative: a strided slice, and a slice dropping channels, stay after the convolution.
// CHECK-LABEL: func.func @slices_that_stay
// CHECK: graph.conv2d
// CHECK-NEXT: graph.slice
// CHECK: graph.conv2d
// CHECK-NEXT: graph.slice
func.func @slices_that_stay(%x: tensor<1x2x8x8xf32>, %w: tensor<4x2x3x3xf32>) -> (tensor<1x4x3x3xf32>, tensor<1x2x6x6xf32>) {
  %c = graph.conv2d %x, %w : tensor<1x2x8x8xf32>, tensor<4x2x3x3xf32> -> tensor<1x4x6x6xf32>
  %s = graph.slice %c {start = array<i64: 0, 0, 0, 0>, strides = array<i64: 1, 1, 2, 2>} : tensor<1x4x6x6xf32> -> tensor<1x4x3x3xf32>
  %d = graph.conv2d %x, %w : tensor<1x2x8x8xf32>, tensor<4x2x3x3xf32> -> tensor<1x4x6x6xf32>
  %t = graph.slice %d {start = array<i64: 0, 1, 0, 0>, strides = array<i64: 1, 1, 1, 1>} : tensor<1x4x6x6xf32> -> tensor<1x2x6x6xf32>
  func.return %s, %t : tensor<1x4x3x3xf32>, tensor<1x2x6x6xf32>
}
