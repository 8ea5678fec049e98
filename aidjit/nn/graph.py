"""Graph layers: GraphConv (Kipf & Welling's GCN) on a (features, adjacency) input."""

from typing import Any

import numpy as np

from aidjit.autodiff import ops  # aidjit.ops, where it is defined (see tests/test_imports.py)
from aidjit.errors import ShapeError
from aidjit.nn import initializers
from aidjit.nn.module import InputShape, Layer, Params, Shape, State


class GraphConv(Layer):
    """`GraphConv(in_features, out_features, bias=True)`: the GCN layer of Kipf & Welling
    (2017), PyTorch Geometric's GCNConv: D^-1/2 (A + I) D^-1/2 @ x @ weight + bias.

    The input is the pair `(x, adjacency)`: node features x [N, in_features] and either a
    dense float adjacency [N, N] (A[j, i] weighs what node j gathers from node i) or an int64
    edge list [2, E] of (source, target) rows, PyG's edge_index (messages flow source ->
    target); a self loop is added to every node (`ops.graph_conv`). The result is the new
    node features [N, out_features], so a GraphConv can open a `Sequential`; a deeper graph
    network passes the adjacency to each GraphConv (a small `Layer` whose `forward` calls
    them in turn).

    Parameters: `weight` [in_features, out_features] xavier_uniform (PyG's glorot), `bias`
    [out_features] zeros (PyG's default), drawn in this order.
    """

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, name: str | None = None
    ) -> None:
        super().__init__(name)
        self.in_features, self.out_features, self.use_bias = in_features, out_features, bias

    def output_shape(self, input_shape: InputShape) -> Shape:
        if not (isinstance(input_shape, tuple) and len(input_shape) == 2) or not all(
            isinstance(shape, tuple) for shape in input_shape
        ):
            raise self.error(
                ShapeError,
                "expected the pair (x [N, F], adjacency [N, N] or edge list [2, E]), got an "
                f"input of shape {input_shape}",
            )
        features, adjacency = input_shape
        self.expect_rank(features, 2, "[N, F] for x")
        self.expect_size(features, 1, self.in_features, "input features")
        nodes = features[0]
        edge_list = len(adjacency) == 2 and adjacency[0] == 2
        if adjacency != (nodes, nodes) and not edge_list:
            raise self.error(
                ShapeError,
                f"the adjacency of {nodes} nodes must be [{nodes}, {nodes}] (dense) or [2, E] "
                f"(an int64 edge list), got shape {adjacency}",
            )
        return (nodes, self.out_features)

    def build(
        self, rng: np.random.Generator, input_shape: InputShape, dtype: np.dtype
    ) -> tuple[Params, State]:
        shape = (self.in_features, self.out_features)
        params = {
            "weight": initializers.xavier_uniform(rng, shape, *shape, dtype),
        }
        if self.use_bias:
            params["bias"] = np.zeros((self.out_features,), dtype)
        return params, {}

    def call(self, params: Params, x: Any) -> Any:
        features, adjacency = x
        return ops.graph_conv(features, adjacency, params["weight"], params.get("bias"))
