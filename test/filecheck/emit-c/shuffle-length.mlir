// RUN: not aidjit-opt %s -t c 2>&1 | filecheck %s

// A shuffle that changes the length has no __builtin_shuffle form: an error at its line.
// CHECK: shuffle-length.mlir:[[# @LINE + 4]]:3: error: C emitter: a shuffle whose operands and result differ in type in 'vector.shuffle'
func.func @narrowing(%x: memref<8xf32>, %y: memref<2xf32>) {
  %c0 = arith.constant 0 : index
  %a = vector.load %x[%c0] : memref<8xf32>, vector<4xf32>
  %s = vector.shuffle %a, %a [0, 1] : vector<4xf32>, vector<4xf32>
  func.return
}
