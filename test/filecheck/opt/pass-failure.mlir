// RUN: not aidjit-opt %s -p convert-graph-to-linalg,bufferize 2>&1 | filecheck %s

// A pass that fails on an op is reported at that op, which is printed in its custom form (as
// it is when the pass fails: convert-graph-to-linalg left the math op alone, renumbering values).

func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = graph.exp %x : tensor<4xf32>
  %1 = math.exp %0 : tensor<4xf32>
  func.return %1 : tensor<4xf32>
}
// CHECK: pass-failure.mlir:8:3: error: bufferize: no bufferization for math.exp
// CHECK-NEXT: {{^}}  %1 = math.exp %0 : tensor<4xf32>
// CHECK-NEXT: {{^}}  ^
// CHECK-NEXT: pass-failure.mlir:8:3: note: see current operation: %{{[0-9]+}} = math.exp %{{[0-9]+}} : tensor<4xf32>
