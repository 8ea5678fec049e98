// RUN: not aidjit-opt %s -t c 2>&1 | filecheck %s --check-prefix=GRAPH
// RUN: aidjit-opt %s --stage c | filecheck %s --check-prefix=STAGE
// RUN: not aidjit-opt %s --stage c -t mlir 2>&1 | filecheck %s --check-prefix=CONFLICT
// RUN: not aidjit-opt %s -t llvm 2>&1 | filecheck %s --check-prefix=TARGET

// The C target needs loop-level IR: on graph-level IR it says which stage or passes to add.

func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = graph.exp %x : tensor<4xf32>
  func.return %0 : tensor<4xf32>
}
// GRAPH: c-target.mlir:9:3: error: the C target needs loop-level IR (func, scf, memref, arith, math), but 'graph.exp' is still at the graph level; run with --stage c, or add the lowering passes: -p canonicalize,cse,dce,convert-graph-to-linalg,{{.*}},bufferize,{{.*}}

// STAGE: void f(const float *restrict arg0, float *restrict arg1)

// CONFLICT: aidjit-opt: error: --stage c prints C, not -t mlir; for loop-level MLIR use --stage loops

// TARGET: aidjit-opt: error: argument -t/--target: unknown target 'llvm' (choose from mlir, c)
