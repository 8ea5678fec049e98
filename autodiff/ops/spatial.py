"""Spatial and graph ops: spatial transformers (`affine_grid`, `grid_sample`), the GCN layer
(`graph_conv`) and Gaussian RBF features (`rbf_kernel`).

All four are composites: each is a short, fixed combination of graph ops that already have
lowerings and gradients, so they need no primitive of their own (as `jax.image` and
`jax.nn` build on lax). What each becomes:

- `affine_grid`: one `matmul` of theta by a constant base grid, `transpose`, `reshape`;
- `grid_sample`: elementwise source-index arithmetic (torch's unnormalisation, border
  clamping and reflection), `floor` for the corners, `astype` to int64 for the flat index,
  one `gather` (`take_along_axis` on the input seen as [N, C, H*W]) per corner, and the
  bilinear weights. The gather's gradient, a scatter-add, is x's; the weights' is the grid's;
  `floor` and `astype` pass none, so nearest sampling gives the grid a zero gradient, as torch;
- `graph_conv`: the normalised adjacency by `add`, `sum`, `rsqrt`, `multiply`, two `matmul`s
  (an edge list becomes the dense count matrix by `one_hot` and `scatter_add`);
- `rbf_kernel`: `||x||² + ||c||² - 2 x c^T` (a `matmul`), clamped at 0 by `maximum`, `exp`.

Signatures and semantics are torch.nn.functional's where torch has the op (affine_grid,
grid_sample), PyTorch Geometric's GCNConv for graph_conv's edge list, and scikit-learn's
rbf_kernel for its gamma. NCHW, float32 and float64.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from aidjit.autodiff.ops.core import (
    abs,
    add,
    astype,
    equal,
    exp,
    greater_equal,
    less_equal,
    matmul,
    maximum,
    multiply,
    one_hot,
    reshape,
    sum,
    transpose,
    where,
)
from aidjit.autodiff.ops.elementwise import clip, floor, rsqrt
from aidjit.autodiff.ops.indexing import scatter_add, take_along_axis
from aidjit.autodiff.primitives import INDEX_DTYPE, require_float
from aidjit.autodiff.tensor import Tensor, to_tensors
from aidjit.errors import ArgumentValueError, DTypeError, ShapeError

__all__ = ["affine_grid", "graph_conv", "grid_sample", "rbf_kernel"]

SAMPLING_MODES = ("bilinear", "nearest")
PADDING_MODES = ("zeros", "border", "reflection")


def _check_choice(op: str, name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ArgumentValueError(f"{op}: {name} must be one of {', '.join(choices)}, got {value!r}")


# ----- affine_grid --------------------------------------------------------------------------------


def _base_coordinates(steps: int, align_corners: bool) -> np.ndarray:
    """torch's normalised pixel positions along one axis: -1 and 1 at the corner pixels'
    centres (align_corners) or at their outer edges (the default); 0 for a single pixel."""
    if steps <= 1:
        return np.zeros(steps)
    positions = np.linspace(-1.0, 1.0, steps)
    return positions if align_corners else positions * ((steps - 1) / steps)


def affine_grid(theta: Any, size: Sequence[int], align_corners: bool = False) -> Tensor:
    """torch.nn.functional.affine_grid for 2-D: sampling positions [N, H, W, 2] (x, y) of the
    affine maps `theta` [N, 2, 3] applied to the output pixels of `size` (N, C, H, W).

    grid[n, h, w] = theta[n] @ (x_w, y_h, 1) with x, y torch's normalised positions: one
    `matmul` of theta by the constant [3, H * W] base grid, then `transpose` and `reshape`.
    The gradient wrt theta is the matmul's.
    """
    (theta,) = to_tensors([theta])
    require_float("affine_grid", theta.spec)
    if len(size) != 4:
        raise ShapeError(f"affine_grid: size must be (N, C, H, W), got {tuple(size)}")
    n, _, height, width = (int(d) for d in size)
    if theta.shape != (n, 2, 3):
        raise ShapeError(
            f"affine_grid: theta must have shape ({n}, 2, 3) for size {tuple(size)}, "
            f"got {theta.spec}"
        )
    xs = _base_coordinates(width, align_corners)
    ys = _base_coordinates(height, align_corners)
    base = np.stack([np.tile(xs, height), np.repeat(ys, width), np.ones(height * width)]).astype(
        theta.dtype
    )
    grid = matmul(theta, base)  # [N, 2, H * W]
    return reshape(transpose(grid, (0, 2, 1)), (n, height, width, 2))


# ----- grid_sample --------------------------------------------------------------------------------


def _unnormalize(coordinate: Tensor, size: int, align_corners: bool) -> Tensor:
    """torch's grid_sampler_unnormalize: [-1, 1] to pixel coordinates."""
    if align_corners:
        return (coordinate + 1.0) / 2.0 * (size - 1)
    return ((coordinate + 1.0) * size - 1.0) / 2.0


def _reflect(coordinate: Tensor, twice_low: int, twice_high: int) -> Tensor:
    """torch's reflect_coordinates: `coordinate` folded into [low, high] by reflections at the
    bounds (fmod as `d - floor(d / span) * span`, d >= 0; the parity of the fold count picks
    the direction). Its gradient is +-1, as torch's."""
    if twice_low == twice_high:
        return coordinate * 0.0
    low, span = twice_low / 2, (twice_high - twice_low) / 2
    distance = abs(coordinate - low)
    flips = floor(distance / span)
    extra = distance - flips * span
    odd = flips - floor(flips * 0.5) * 2.0
    return where(odd, span - extra + low, extra + low)


def _source_index(coordinate: Tensor, size: int, padding_mode: str, align_corners: bool) -> Tensor:
    """torch's grid_sampler_compute_source_index: the pixel coordinate a grid value reads."""
    coordinate = _unnormalize(coordinate, size, align_corners)
    if padding_mode == "reflection":
        twice = (0, 2 * (size - 1)) if align_corners else (-1, 2 * size - 1)
        coordinate = _reflect(coordinate, *twice)
    if padding_mode != "zeros":
        coordinate = clip(coordinate, 0.0, size - 1.0)
    return coordinate


def _round_half_even(value: Tensor) -> Tensor:
    """nearbyint (torch's nearest mode): floor(v + 0.5), minus 1 on a tie with an odd result.
    Exact while |v| < 2**22 in float32 (beyond that, the pixel is out of bounds anyway)."""
    rounded = floor(value + 0.5)
    tie = equal(rounded - value, 0.5)
    odd = rounded - floor(rounded * 0.5) * 2.0
    return rounded - tie * odd


class _Reader:
    """Reads x [N, C, H, W] at integer-valued pixel coordinates (cy, cx) [N, Ho, Wo], zero
    outside the image: one gather of x seen as [N, C, H * W] at the flat index per corner."""

    def __init__(self, x: Tensor, out_shape: tuple[int, int, int]) -> None:
        self.n, self.channels, self.height, self.width = x.shape
        self.flat = reshape(x, (self.n, self.channels, self.height * self.width))
        self.out_shape = out_shape

    def __call__(self, cy: Tensor, cx: Tensor, weight: Tensor | None) -> Tensor:
        inside = (
            greater_equal(cx, 0.0)
            * less_equal(cx, self.width - 1.0)
            * greater_equal(cy, 0.0)
            * less_equal(cy, self.height - 1.0)
        )
        # The flat index in float64 (exact to 2**53), 0 where outside: no read out of bounds,
        # a NaN coordinate included (its comparisons are false).
        flat = astype(cy, np.float64) * float(self.width) + astype(cx, np.float64)
        index = astype(where(inside, flat, 0.0), INDEX_DTYPE)
        n, out_h, out_w = self.out_shape
        index = reshape(index, (n, 1, out_h * out_w))
        values = reshape(
            take_along_axis(self.flat, index, axis=2), (n, self.channels, out_h, out_w)
        )
        inside = reshape(inside, (n, 1, out_h, out_w))
        if weight is not None:
            values = values * reshape(weight, (n, 1, out_h, out_w))
        # where, not a product: an outside corner contributes 0 even if its weight is inf.
        return where(inside, values, 0.0)


def _bilinear(read: _Reader, iy: Tensor, ix: Tensor) -> Tensor:
    """torch's bilinear sampling: the four corners around (iy, ix), weighted by the areas of
    the opposite rectangles (nw = (x1 - ix) * (y1 - iy), ...)."""
    x0, y0 = floor(ix), floor(iy)
    x1, y1 = x0 + 1.0, y0 + 1.0
    columns = ((x0, x1 - ix), (x1, ix - x0))
    rows = ((y0, y1 - iy), (y1, iy - y0))
    corners = [read(cy, cx, wy * wx) for cy, wy in rows for cx, wx in columns]
    return corners[0] + corners[1] + corners[2] + corners[3]


_SAMPLERS: dict[str, Callable[[_Reader, Tensor, Tensor], Tensor]] = {
    "bilinear": _bilinear,
    "nearest": lambda read, iy, ix: read(_round_half_even(iy), _round_half_even(ix), None),
}


def grid_sample(
    input: Any,  # noqa: A002 - torch's name
    grid: Any,
    mode: str = "bilinear",
    padding_mode: str = "zeros",
    align_corners: bool = False,
) -> Tensor:
    """torch.nn.functional.grid_sample for 4-D input: out[n, c, h, w] samples input[n, c] at
    grid[n, h, w] = (x, y), normalised to [-1, 1] over the width and height.

    `mode`: "bilinear" (the four neighbouring pixels) or "nearest" (round half to even);
    `padding_mode`: "zeros" (pixels outside read 0), "border" (coordinates clamped to the
    image) or "reflection" (reflected at the border, then clamped); `align_corners`: whether
    -1 and 1 are the corner pixels' centres (True) or their outer edges (False), as torch.
    Gradients: wrt input, each output's weight scatter-added to the pixels it read; wrt grid,
    the bilinear weights' derivative (zero for nearest, as torch). A NaN grid value reads 0.
    Graph ops: see the module docstring.
    """
    x, grid = to_tensors([input, grid])
    require_float("grid_sample", x.spec, grid.spec)
    _check_choice("grid_sample", "mode", mode, SAMPLING_MODES)
    _check_choice("grid_sample", "padding_mode", padding_mode, PADDING_MODES)
    if x.dtype != grid.dtype:
        raise DTypeError(f"grid_sample: input {x.spec} and grid {grid.spec} dtypes differ")
    if x.ndim != 4 or grid.ndim != 4 or grid.shape[-1] != 2 or grid.shape[0] != x.shape[0]:
        raise ShapeError(
            f"grid_sample: expected input [N, C, H, W] and grid [N, H_out, W_out, 2], "
            f"got {x.spec} and {grid.spec}"
        )
    n, _, height, width = x.shape
    ix = _source_index(grid[..., 0], width, padding_mode, align_corners)
    iy = _source_index(grid[..., 1], height, padding_mode, align_corners)
    return _SAMPLERS[mode](_Reader(x, (n, *grid.shape[1:3])), iy, ix)


# ----- graph_conv ---------------------------------------------------------------------------------


def _edge_counts(edges: Tensor, nodes: int, dtype: np.dtype) -> Tensor:
    """The dense [nodes, nodes] matrix counting edges: A[j, i] = the number of edges i -> j.

    `one_hot` of the sources ([E, nodes]), scatter-added into the rows of the targets: O(E *
    nodes) work and memory, against O(E * nodes²) for the product one_hot(dst)^T @
    one_hot(src). Node ids are int64 in [0, nodes): eagerly an ArgumentValueError, in compiled
    calls one_hot's and scatter_add's preconditions check the argument (negative targets count
    from the end there)."""
    if not edges.is_symbolic and edges.size:
        values = edges.numpy()
        if values.min() < 0 or values.max() >= nodes:
            raise ArgumentValueError(
                f"graph_conv: node ids must lie in [0, {nodes}), got values from "
                f"{values.min()} to {values.max()}"
            )
    count = edges.shape[1]
    sources = one_hot(edges[0], nodes, dtype)
    targets = reshape(edges[1], (count, 1))
    return scatter_add(sources, targets, 0, (nodes, nodes))


def graph_conv(x: Any, adjacency: Any, w: Any, b: Any = None) -> Tensor:
    """Kipf & Welling's GCN layer: D^-1/2 (A + I) D^-1/2 @ x @ w (+ b), D the row sums of A + I.

    x [N, F_in], w [F_in, F_out], b [F_out] or None. `adjacency` is a dense float [N, N]
    matrix (A[j, i] weighs what node j gathers from node i; it gets a gradient too) or an
    int64 edge list [2, E] of (source, target) rows as PyTorch Geometric's edge_index:
    messages flow source -> target, repeated edges count twice, and a self loop is added to
    every node either way. The two products run in the cheaper order (N² * min(F_in, F_out)).
    Graph ops: `add`, `sum`, `rsqrt`, `multiply`, `matmul`s, `add` of b (edge lists: `one_hot`,
    `scatter_add` first).
    """
    x, adjacency, w = to_tensors([x, adjacency, w])
    require_float("graph_conv", x.spec, w.spec)
    if x.ndim != 2 or w.ndim != 2 or w.shape[0] != x.shape[1]:
        raise ShapeError(
            f"graph_conv: expected x [N, F_in] and w [F_in, F_out], got {x.spec} and {w.spec}"
        )
    nodes = x.shape[0]
    if adjacency.dtype == INDEX_DTYPE:
        if adjacency.ndim != 2 or adjacency.shape[0] != 2:
            raise ShapeError(
                f"graph_conv: an edge list must have shape [2, E], got {adjacency.spec}"
            )
        adjacency = _edge_counts(adjacency, nodes, x.dtype)
    elif adjacency.shape != (nodes, nodes):
        raise ShapeError(
            f"graph_conv: adjacency must be [{nodes}, {nodes}] (or an int64 edge list [2, E]) "
            f"for x {x.spec}, got {adjacency.spec}"
        )
    looped = add(adjacency, np.eye(nodes, dtype=x.dtype))
    scale = rsqrt(sum(looped, axis=1))
    normalized = multiply(multiply(looped, reshape(scale, (nodes, 1))), scale)
    if w.shape[1] <= w.shape[0]:
        out = matmul(normalized, matmul(x, w))
    else:
        out = matmul(matmul(normalized, x), w)
    return out if b is None else out + b


# ----- rbf_kernel ---------------------------------------------------------------------------------


def rbf_kernel(x: Any, centers: Any, gamma: Any = None) -> Tensor:
    """Gaussian RBF features: out[i, j] = exp(-gamma ||x_i - c_j||²), x [N, D], centers [M, D].

    `gamma`: a number, a tensor broadcasting against [N, M] (one width per center, [M], is
    learnable), or None for 1 / D (scikit-learn's rbf_kernel default).

    The squared distance is ||x||² + ||c||² - 2 x c^T, clamped at 0 (`maximum`; rounding can
    make it slightly negative for near-coincident points): one `matmul` carries the O(N M D)
    work in the tiled contraction kernel, and no [N, M, D] difference tensor exists, forward
    or backward, where the direct form builds one. The price is cancellation: the absolute
    error of the distance is about eps * (||x||² + ||c||²), which matters only when gamma
    times that is not small, i.e. for far-from-origin points with a large gamma (centre the
    features then). scikit-learn and GPyTorch make the same choice.
    """
    x, centers = to_tensors([x, centers])
    require_float("rbf_kernel", x.spec, centers.spec)
    if x.ndim != 2 or centers.ndim != 2 or x.shape[1] != centers.shape[1]:
        raise ShapeError(
            f"rbf_kernel: expected x [N, D] and centers [M, D], got {x.spec} and {centers.spec}"
        )
    if gamma is None:
        gamma = 1.0 / max(x.shape[1], 1)
    x_norms = reshape(sum(x * x, axis=1), (x.shape[0], 1))
    center_norms = sum(centers * centers, axis=1)
    cross = matmul(x, transpose(centers))
    distances = maximum(x_norms + center_norms - cross * 2.0, 0.0)
    return exp(distances * -gamma)
