"""bench/flops.py: the FLOPs of every matmul and convolution of a graph, counted from the IR, and
numpy's GEMM replay of the same shapes."""

import numpy as np
import pytest

import aidjit
from aidjit import Tensor

from flops import Contraction, GemmReplay, gflops, parse_contractions, total_flops

# 2-D, batched 3-D and 3-D @ 2-D products, f32 and f64, among ops that are not contractions.
GRAPH = """
func.func @f(%a: tensor<5x7xf32>, %b: tensor<7x3xf32>, %c: tensor<2x5x7xf64>,
             %d: tensor<2x7x3xf64>, %e: tensor<7x3xf64>) -> (tensor<5x3xf32>, tensor<2x5x3xf64>) {
  %0 = graph.matmul %a, %b : tensor<5x7xf32>, tensor<7x3xf32> -> tensor<5x3xf32>
  %1 = graph.add %0, %0 : tensor<5x3xf32>, tensor<5x3xf32> -> tensor<5x3xf32>
  %2 = graph.matmul %c, %d : tensor<2x5x7xf64>, tensor<2x7x3xf64> -> tensor<2x5x3xf64>
  %3 = graph.matmul %c, %e : tensor<2x5x7xf64>, tensor<7x3xf64> -> tensor<2x5x3xf64>
  %4 = graph.add %2, %3 : tensor<2x5x3xf64>, tensor<2x5x3xf64> -> tensor<2x5x3xf64>
  func.return %1, %4 : tensor<5x3xf32>, tensor<2x5x3xf64>
}
"""


def test_every_matmul_is_counted_with_two_flops_per_term() -> None:
    found = parse_contractions(GRAPH)
    assert found == [
        Contraction((5, 7), (7, 3), (5, 3), "float32"),
        Contraction((2, 5, 7), (2, 7, 3), (2, 5, 3), "float64"),
        Contraction((2, 5, 7), (7, 3), (2, 5, 3), "float64"),
    ]
    assert [c.flops for c in found] == [2 * 5 * 3 * 7, 2 * 2 * 5 * 3 * 7, 2 * 2 * 5 * 3 * 7]
    assert total_flops(found) == 2 * 5 * 3 * 7 * 5


CONV = """
func.func @g(%x: tensor<2x4x7x7xf32>, %w: tensor<6x2x3x3xf32>) -> tensor<2x6x3x3xf32> {
  %0 = graph.conv2d %x, %w stride [2, 2] groups 2
         : tensor<2x4x7x7xf32>, tensor<6x2x3x3xf32> -> tensor<2x6x3x3xf32>
  func.return %0 : tensor<2x6x3x3xf32>
}
"""


def test_a_convolution_is_its_im2col_gemm() -> None:
    """Per image and group, weights [F=3, K=2*3*3] times patches [K, 3*3 positions]."""
    (found,) = parse_contractions(CONV)
    assert found == Contraction((2, 3, 18), (2, 2, 18, 9), (2, 2, 3, 9), "float32")
    assert found.flops == 2 * (2 * 6 * 3 * 3) * 18  # 2 * outputs * terms per output
    replay = GemmReplay([found])
    replay()
    assert replay.operands[0][2].shape == found.result


def test_a_graph_without_matmuls_has_no_contractions() -> None:
    compiled = aidjit.compile(lambda x: x * 2.0 + 1.0, np.ones((4, 4), np.float32))
    assert parse_contractions(compiled.ir("optimized")) == []


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_traced_mlp_counts_its_layers(dtype: type) -> None:
    """Shapes come from what aidjit traced: x @ w, then (x @ w) @ w.T with the transpose
    applied to the operand, so the second matmul's right-hand side is 5x6."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 6)).astype(dtype)
    w = rng.standard_normal((6, 5)).astype(dtype)

    def f(x: Tensor, w: Tensor) -> Tensor:
        return (x @ w) @ aidjit.ops.transpose(w)

    found = parse_contractions(aidjit.compile(f, x, w).ir("optimized"))
    assert found == [
        Contraction((4, 6), (6, 5), (4, 5), np.dtype(dtype).name),
        Contraction((4, 5), (5, 6), (4, 6), np.dtype(dtype).name),
    ]
    assert total_flops(found) == 2 * 4 * 5 * 6 + 2 * 4 * 6 * 5


def test_gemm_replay_runs_every_contraction_into_its_output() -> None:
    found = parse_contractions(GRAPH)
    replay = GemmReplay(found)
    replay()
    for contraction, (lhs, rhs, out) in zip(found, replay.operands, strict=True):
        assert lhs.shape == contraction.lhs and rhs.shape == contraction.rhs
        assert out.shape == contraction.result and out.dtype == np.dtype(contraction.dtype)
        np.testing.assert_allclose(out, np.matmul(lhs, rhs), rtol=1e-5)


def test_gflops_is_flops_per_nanosecond() -> None:
    assert gflops(3_000_000_000, 1000.0) == pytest.approx(3.0)
    assert gflops(2 * 256**3, 0.5) == pytest.approx(2 * 256**3 / 0.5e6)
