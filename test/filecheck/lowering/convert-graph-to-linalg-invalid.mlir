// RUN: aidjit-opt %s -p convert-graph-to-linalg --split-input-file --verify-diagnostics | filecheck %s

// What convert-graph-to-linalg refuses: IR the graph verifier accepts (no graph op to check it)
// but that cannot become structured ops. Each error is reported at the op or function at fault.

// expected-error @+1 {{convert-graph-to-linalg: @dynamic: dynamic shape in tensor<?xf32>; aidjit needs static shapes}}
func.func @dynamic(%x: tensor<?xf32>) -> tensor<?xf32> {
  func.return %x : tensor<?xf32>
}

// -----

// expected-error @+1 {{convert-graph-to-linalg: @half: element type of tensor<4xf16> is not supported; use f32, f64 or i64}}
func.func @half(%x: tensor<4xf16>) -> tensor<4xf16> {
  func.return %x : tensor<4xf16>
}

// -----

func.func @dynamic_result(%x: tensor<4xf32>) -> tensor<?xf32> {
  // expected-error @+1 {{convert-graph-to-linalg: @dynamic_result: dynamic shape in tensor<?xf32>}}
  %0 = "tensor.cast"(%x) : (tensor<4xf32>) -> tensor<?xf32>
  func.return %0 : tensor<?xf32>
}

// -----

// Ops of other dialects are left alone (bufferize is the pass that refuses a tensor op it
// cannot place; see test/filecheck/opt/pass-failure.mlir); the graph ops around them lower.
// CHECK-LABEL: func.func @not_graph
// CHECK-NEXT: %[[E:.*]] = tensor.empty() : tensor<4xf32>
// CHECK-NEXT: %[[G:.*]] = linalg.generic {{.*}} ins(%{{.*}} : tensor<4xf32>) outs(%[[E]] : tensor<4xf32>)
// CHECK: %[[M:.*]] = math.exp %[[G]] : tensor<4xf32>
// CHECK-NEXT: func.return %[[M]] : tensor<4xf32>
func.func @not_graph(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = graph.negate %x : tensor<4xf32>
  %1 = math.exp %0 : tensor<4xf32>
  func.return %1 : tensor<4xf32>
}

// -----

// Functions without tensors are left alone: no diagnostic.
// CHECK-LABEL: func.func @scalars(%{{.*}}: f32) -> f32
func.func @scalars(%x: f32) -> f32 {
  func.return %x : f32
}
