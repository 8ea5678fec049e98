// RUN: aidjit-opt %s --split-input-file -p convert-graph-to-linalg | filecheck %s

// graph.random_bits at the structured level (lowering/random.py): a parallel generic with no
// input over the result. The body reads the key's two words (masked to 32 bits), makes the
// row-major index from linalg.index, splits it into the counter words (high + stream, low),
// runs 20 Threefry rounds on i64 (add + mask, rotate as shli/andi/shrsi/ori, xor) and yields
// the xor of the two output words.
// CHECK-LABEL: func.func @random_bits
// CHECK-SAME: (%[[KEY:.*]]: tensor<2xi64>)
// CHECK: %[[E:.*]] = tensor.empty() : tensor<3x5xi64>
// CHECK-NEXT: %[[R:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} outs(%[[E]] : tensor<3x5xi64>) {
// CHECK: %[[K0:.*]] = tensor.extract %[[KEY]][%{{.*}}] : tensor<2xi64>
// CHECK: %[[MASK:.*]] = arith.constant 4294967295 : i64
// CHECK: arith.andi %[[K0]], %[[MASK]] : i64
// CHECK: tensor.extract %[[KEY]][%{{.*}}] : tensor<2xi64>
// CHECK: %[[D0:.*]] = linalg.index 0 : index
// CHECK: %[[I0:.*]] = arith.index_cast %[[D0]] : index to i64
// CHECK: %[[D1:.*]] = linalg.index 1 : index
// CHECK: %[[I1:.*]] = arith.index_cast %[[D1]] : index to i64
// CHECK: %[[FIVE:.*]] = arith.constant 5 : i64
// CHECK: %[[ROW:.*]] = arith.muli %[[I0]], %[[FIVE]] : i64
// CHECK: %[[FLAT:.*]] = arith.addi %[[ROW]], %[[I1]] : i64
// CHECK: %[[HIGH:.*]] = arith.shrsi %[[FLAT]], %{{.*}} : i64
// CHECK: %[[STREAM:.*]] = arith.constant 1 : i64
// CHECK: arith.addi %[[HIGH]], %[[STREAM]] : i64
// CHECK: arith.constant 466688986 : i64
// One xori in the key schedule (after k0 ^ k1), one per round, then the output's:
// CHECK-COUNT-21: arith.xori
// CHECK: %[[BITS:.*]] = arith.xori %{{.*}}, %{{.*}} : i64
// CHECK-NEXT: linalg.yield %[[BITS]] : i64
// CHECK: func.return %[[R]]
func.func @random_bits(%key: tensor<2xi64>) -> tensor<3x5xi64> {
  %0 = graph.random_bits %key {stream = 1 : i64} : tensor<2xi64> -> tensor<3x5xi64>
  func.return %0 : tensor<3x5xi64>
}

// -----

// A rank-0 draw has no loop: the counter is (stream, 0).
// CHECK-LABEL: func.func @random_bits_scalar
// CHECK: linalg.generic {indexing_maps = [affine_map<() -> ()>], iterator_types = []}
// CHECK-NOT: linalg.index
// CHECK: linalg.yield
func.func @random_bits_scalar(%key: tensor<2xi64>) -> tensor<i64> {
  %0 = graph.random_bits %key : tensor<2xi64> -> tensor<i64>
  func.return %0 : tensor<i64>
}
