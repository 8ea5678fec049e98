"""bench/workloads.py's W5: the numpy oracle every column is checked against, checked itself.

W5t's backward is derived by hand (im2col/col2im, max-pool routing, batch norm), so it is tested
against central finite differences in float64; its building blocks against direct definitions.
"""

import numpy as np
import pytest

from workloads import (
    BN_MOMENTUM,
    BY_ID,
    W5_PARAMS,
    col2im,
    conv_same,
    im2col,
    max_pool_2x2_backward,
    w5i_numpy,
    w5t_numpy,
)

PARAM_NAMES = ("w1", "b1", "gamma", "beta", "w2", "b2", "wd", "bd")


def _w5t_inputs_f64() -> list[np.ndarray]:
    inputs = BY_ID["W5t"].inputs()
    return [a.astype(np.float64) if a.dtype.kind == "f" else a for a in inputs]


def _loss(inputs: list[np.ndarray]) -> float:
    (loss, _), _ = w5t_numpy(*inputs)
    return float(loss)


@pytest.mark.parametrize("index", range(W5_PARAMS), ids=PARAM_NAMES)
def test_w5t_gradients_match_central_differences(index: int) -> None:
    """<grad, v> against (L(p + hv) - L(p - hv)) / 2h for random directions v, in float64."""
    inputs = _w5t_inputs_f64()
    _, grads = w5t_numpy(*inputs)
    rng = np.random.default_rng(index)
    # Small: a step moves ~65k relu inputs and 8k max-pool windows; at 1e-5 a few of them cross
    # a kink and the difference is off by 1e-4 relative, at 1e-7 none do (rounding: ~1e-9).
    step = 1e-7
    for _ in range(2):
        direction = rng.standard_normal(inputs[index].shape)
        shifted = [list(inputs), list(inputs)]
        shifted[0][index] = inputs[index] + step * direction
        shifted[1][index] = inputs[index] - step * direction
        numeric = (_loss(shifted[0]) - _loss(shifted[1])) / (2 * step)
        analytic = float(np.sum(grads[index] * direction))
        scale = float(np.linalg.norm(grads[index]) * np.linalg.norm(direction))
        assert abs(numeric - analytic) <= 1e-6 * scale + 1e-8, (numeric, analytic)


def test_w5t_running_statistics_and_forward_agree_with_inference() -> None:
    """The batch statistics recovered from W5t's updated running statistics, used as W5i's
    running statistics, give the logits whose cross-entropy is W5t's loss."""
    inputs = _w5t_inputs_f64()
    w1, b1, gamma, beta, w2, b2, wd, bd, x, running_mean, running_var, labels = inputs
    (loss, (new_mean, new_var)), _ = w5t_numpy(*inputs)
    count = x.shape[0] * x.shape[2] * x.shape[3]
    keep = 1.0 - BN_MOMENTUM
    batch_mean = (new_mean - keep * running_mean) / BN_MOMENTUM
    batch_var = (new_var - keep * running_var) / BN_MOMENTUM * (count - 1) / count
    logits = w5i_numpy(x, w1, b1, gamma, beta, batch_mean, batch_var, w2, b2, wd, bd)
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    assert -log_probs[np.arange(len(labels)), labels].mean() == pytest.approx(loss, rel=1e-12)


def test_im2col_convolution_and_col2im_adjoint() -> None:
    """conv_same against the convolution's definition; col2im is im2col's transpose."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 5, 7))
    w, b = rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    direct = (
        sum(
            np.einsum("nchw,fc->nfhw", padded[:, :, i : i + 5, j : j + 7], w[:, :, i, j])
            for i in range(3)
            for j in range(3)
        )
        + b[:, None, None]
    )
    out, cols = conv_same(x, w, b)
    np.testing.assert_allclose(out, direct, rtol=1e-12, atol=1e-12)
    patches = rng.standard_normal(cols.shape)
    assert np.sum(im2col(x, 3, 1) * patches) == pytest.approx(
        np.sum(x * col2im(patches, x.shape, 3, 1)), rel=1e-12
    )


def test_max_pool_backward_routes_to_the_first_maximum() -> None:
    x = np.array([[[[1.0, 3.0], [3.0, 0.0]]]])  # a tie: the first in row-major order wins
    routed = max_pool_2x2_backward(x, np.array([[[[5.0]]]]))
    np.testing.assert_array_equal(routed, [[[[0.0, 5.0], [0.0, 0.0]]]])
