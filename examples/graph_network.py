"""A graph convolutional network classifying the nodes of a synthetic community graph.

    python examples/graph_network.py [--steps 100]

One graph of 4 communities of 60 nodes (a planted partition: an edge inside a community with
probability 0.1, across communities 0.01); each node's 16 features are its community's mean
vector buried in noise, so the features alone classify a node poorly, but a node's neighbours
are mostly of its own community. Two `nn.GraphConv` layers (Kipf & Welling's GCN) average
features over neighbourhoods two hops wide. A quarter of the nodes have known labels; the
model is trained on them and scored on the others (semi-supervised node classification).

Written with the functional API rather than the Trainer (whose batches are rows of one array,
while a graph is one example of several arrays): parameters from `layer.init`, a loss of them
with `layer.apply`, and one `aidjit.jit` step holding forward, backward and the Adam update.
Prints the loss going down and the accuracy on the unlabelled nodes, next to a baseline that
ignores the edges (the same model with every edge removed: each node sees only itself).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import numpy as np

import aidjit
import aidjit.losses as losses
import aidjit.optim as optim
from aidjit import nn, ops

Params = dict[str, Any]
"""A pytree of arrays: parameters or optimiser state."""

COMMUNITIES, PER_COMMUNITY, FEATURES, HIDDEN = 4, 60, 16, 32
P_IN, P_OUT, NOISE, LABELLED = 0.1, 0.01, 2.0, 0.25


def community_graph(seed: int) -> dict[str, np.ndarray]:
    """Features [N, F] float32, an int64 edge list [2, E] (both directions), labels [N], and the
    indices of the labelled (training) and unlabelled (test) nodes."""
    rng = np.random.default_rng(seed)
    nodes = COMMUNITIES * PER_COMMUNITY
    labels = np.repeat(np.arange(COMMUNITIES), PER_COMMUNITY)
    same = labels[:, None] == labels[None, :]
    upper = np.triu(rng.random((nodes, nodes)) < np.where(same, P_IN, P_OUT), k=1)
    sources, targets = np.nonzero(upper | upper.T)
    means = rng.standard_normal((COMMUNITIES, FEATURES))
    features = means[labels] + NOISE * rng.standard_normal((nodes, FEATURES))
    order = rng.permutation(nodes)
    split = int(LABELLED * nodes)
    return {
        "x": features.astype(np.float32),
        "edges": np.stack([sources, targets]).astype(np.int64),
        "labels": labels.astype(np.int64),
        "train": np.sort(order[:split]).astype(np.int64),
        "test": np.sort(order[split:]).astype(np.int64),
    }


LAYERS = {"conv1": nn.GraphConv(FEATURES, HIDDEN), "conv2": nn.GraphConv(HIDDEN, COMMUNITIES)}


def init(graph: dict[str, np.ndarray]) -> Params:
    edges = graph["edges"].shape
    shapes = {"conv1": ((1, FEATURES), edges), "conv2": ((1, HIDDEN), edges)}
    return {
        name: layer.init(seed, shapes[name])[0] for seed, (name, layer) in enumerate(LAYERS.items())
    }


def logits(params: Params, x: Any, edges: Any) -> Any:
    hidden, _ = LAYERS["conv1"].apply(params["conv1"], {}, (x, edges))
    out, _ = LAYERS["conv2"].apply(params["conv2"], {}, (ops.relu(hidden), edges))
    return out


def loss(params: Params, x: Any, edges: Any, nodes: Any, labels: Any) -> Any:
    """Cross-entropy over the nodes listed in `nodes` only (the labelled ones), whose `labels`
    are given in that order (taken out of the int64 labels by numpy: a compiled `take` reads
    float arrays only)."""
    return losses.cross_entropy(ops.take(logits(params, x, edges), nodes, axis=0), labels)


def accuracy(params: Params, graph: dict[str, np.ndarray], edges: np.ndarray) -> float:
    predicted = np.asarray(logits(params, graph["x"], edges)).argmax(axis=1)
    nodes = graph["test"]
    return float(np.mean(predicted[nodes] == graph["labels"][nodes]))


def train(graph: dict[str, np.ndarray], edges: np.ndarray, steps: int, log: bool) -> float:
    """Full-graph Adam steps, compiled into one function; the final test-node accuracy."""
    optimizer = optim.Adam(lr=0.01, weight_decay=5e-4)
    params = init(graph)
    opt_state = optimizer.init(params)
    nodes = graph["train"]

    @aidjit.jit
    def step(
        params: Params, opt_state: Params, x: Any, edges: Any, nodes: Any, labels: Any
    ) -> tuple[Any, Params, Params]:
        value, grads = aidjit.value_and_grad(loss)(params, x, edges, nodes, labels)
        params, opt_state = optimizer.update(grads, opt_state, params)
        return value, params, opt_state

    for index in range(steps):
        value, params, opt_state = step(
            params, opt_state, graph["x"], edges, nodes, graph["labels"][nodes]
        )
        if log and (index % (steps // 5) == 0 or index == steps - 1):
            print(
                f"step {index + 1:4d}: loss {float(value):.4f}  "
                f"test accuracy {accuracy(params, graph, edges):.4f}"
            )
    return accuracy(params, graph, edges)


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args(argv)
    graph = community_graph(seed=0)
    print(
        f"graph: {len(graph['x'])} nodes, {graph['edges'].shape[1] // 2} edges, "
        f"{len(graph['train'])} labelled"
    )
    gcn = train(graph, graph["edges"], args.steps, log=True)
    no_edges = train(graph, np.zeros((2, 0), np.int64), args.steps, log=False)
    print(f"test accuracy: GCN {gcn:.4f}, without the edges {no_edges:.4f}")
    return {"gcn": gcn, "no_edges": no_edges}


if __name__ == "__main__":
    main()
