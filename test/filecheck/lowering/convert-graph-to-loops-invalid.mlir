// RUN: aidjit-opt %s -p convert-graph-to-loops --split-input-file --verify-diagnostics | filecheck %s

// What convert-graph-to-loops refuses: IR the graph verifier accepts (no graph op to check it)
// but that cannot become loops. Each error is reported at the op or function at fault.

// expected-error @+1 {{convert-graph-to-loops: @dynamic: dynamic shape in tensor<?xf32>; aidjit needs static shapes}}
func.func @dynamic(%x: tensor<?xf32>) -> tensor<?xf32> {
  func.return %x : tensor<?xf32>
}

// -----

// expected-error @+1 {{convert-graph-to-loops: @half: element type of tensor<4xf16> is not supported; use f32, f64 or i64}}
func.func @half(%x: tensor<4xf16>) -> tensor<4xf16> {
  func.return %x : tensor<4xf16>
}

// -----

func.func @dynamic_result(%x: tensor<4xf32>) -> tensor<?xf32> {
  // expected-error @+1 {{convert-graph-to-loops: @dynamic_result: dynamic shape in tensor<?xf32>}}
  %0 = "tensor.cast"(%x) : (tensor<4xf32>) -> tensor<?xf32>
  func.return %0 : tensor<?xf32>
}

// -----

func.func @not_graph(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{convert-graph-to-loops: no lowering for math.exp}}
  %0 = math.exp %x : tensor<4xf32>
  func.return %0 : tensor<4xf32>
}

// -----

// Functions without tensors are left alone: no diagnostic.
// CHECK: func.func @scalars(%{{.*}}: f32) -> f32
func.func @scalars(%x: f32) -> f32 {
  func.return %x : f32
}
