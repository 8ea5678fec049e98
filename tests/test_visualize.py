"""Pictures of a module (aidjit.visualize): the dot text read back as nodes, edges and clusters.

The dot text is parsed here with a few regular expressions (quoted strings are JSON-compatible:
only `\\"`, `\\\\` and `\\n` escapes), so each test checks the picture's structure — which nodes,
in which cluster, which edges carrying how many bytes — rather than the exact text. Where
Graphviz's `dot` is installed, the text is also fed to it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from xdsl.dialects import linalg, tensor
from xdsl.dialects.builtin import ModuleOp
from xdsl.parser import Parser

import aidjit
from aidjit import ops
from aidjit.autodiff.primitives import Spec
from aidjit.autodiff.trace import TraceArgument, trace_function
from aidjit.context import make_context
from aidjit.errors import RenderError, UnsupportedError, blamed
from aidjit.lowering.trace_to_graph import trace_to_module
from aidjit.visualize import human_bytes, module_to_dot, quote, render

HAS_DOT = shutil.which("dot") is not None
STRING = r'"(?:[^"\\]|\\.)*"'
NODE = re.compile(rf"^\s*({STRING}) \[label=({STRING})")
EDGE = re.compile(rf"^\s*({STRING}) -> ({STRING})(?: \[(.*)\])?;$")
CLUSTER = re.compile(rf"^\s*subgraph ({STRING}) \{{$")
CLUSTER_LABEL = re.compile(rf"^\s*graph \[label=({STRING})")

STRUCTURED = """
func.func @f(%x: tensor<4x8xf32>, %b: tensor<8xf32>) -> (tensor<4xf32>, tensor<4x8xf32>) {
  %e = tensor.empty() : tensor<4xf32>
  %cst = arith.constant 0.000000e+00 : f32
  %init = linalg.fill ins(%cst : f32) outs(%e : tensor<4xf32>) -> tensor<4xf32>
  %e2 = tensor.empty() : tensor<4x8xf32>
  %r, %r_1 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>,
      affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>],
      iterator_types = ["parallel", "reduction"]}
      ins(%x, %b : tensor<4x8xf32>, tensor<8xf32>)
      outs(%init, %e2 : tensor<4xf32>, tensor<4x8xf32>) {
  ^bb0(%a: f32, %bb: f32, %acc: f32, %o: f32):
    %s = arith.subf %a, %bb : f32
    %ex = math.exp %s : f32
    %n = arith.addf %acc, %ex : f32
    linalg.yield %n, %ex : f32, f32
  } -> tensor<4xf32>, tensor<4x8xf32>
  %c = tensor.collapse_shape %r_1 [[0 : i64, 1 : i64]] : tensor<4x8xf32> into tensor<32xf32>
  func.return %r, %r_1 : tensor<4xf32>, tensor<4x8xf32>
}
"""

# Two loop nests (an elementwise exp feeding a row sum) in f64, a fill of a runtime scalar that
# stays a node, a destination that is written but never read, and a tensor.empty returned as is.
CHAIN = """
func.func @chain(%x: tensor<512x1024xf64>, %s: f64, %d: tensor<512x1024xf64>)
    -> (tensor<512xf64>, tensor<3xf64>) {
  %e = tensor.empty() : tensor<512x1024xf64>
  %y:2 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>,
      affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>],
      iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<512x1024xf64>) outs(%e, %d : tensor<512x1024xf64>, tensor<512x1024xf64>) {
  ^bb0(%a: f64, %o: f64, %o2: f64):
    %ex = math.exp %a : f64
    linalg.yield %ex, %ex : f64, f64
  } -> tensor<512x1024xf64>, tensor<512x1024xf64>
  %e1 = tensor.empty() : tensor<512xf64>
  %init = linalg.fill ins(%s : f64) outs(%e1 : tensor<512xf64>) -> tensor<512xf64>
  %sum = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>,
      affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]}
      ins(%y#0 : tensor<512x1024xf64>) outs(%init : tensor<512xf64>) {
  ^bb0(%a: f64, %acc: f64):
    %n = arith.addf %acc, %a : f64
    linalg.yield %n : f64
  } -> tensor<512xf64>
  %unused = tensor.empty() : tensor<3xf64>
  func.return %sum, %unused : tensor<512xf64>, tensor<3xf64>
}
"""

LOOPS = """
func.func @loops(%x: memref<4xf32>, %y: memref<4xf32>) {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %c1 = arith.constant 1 : index
  scf.for %i = %c0 to %c4 step %c1 {
    %v = memref.load %x[%i] : memref<4xf32>
    %e = math.exp %v : f32
    memref.store %e, %y[%i] : memref<4xf32>
  }
  func.return
}
"""

BUFFERIZED = """
func.func @bufferized(%x: memref<4xf32>, %y: memref<4xf32>) {
  linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>],
      iterator_types = ["parallel"]} ins(%x : memref<4xf32>) outs(%y : memref<4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %e = math.exp %a : f32
    linalg.yield %e : f32
  }
  func.return
}
"""

GLOBAL = """
"memref.global"() <{sym_name = "g", sym_visibility = "private", type = memref<2xf32>,
    initial_value = dense<0.0> : tensor<2xf32>}>
    : () -> ()
"""


def parse(text: str) -> ModuleOp:
    """`text` parsed in aidjit's context, with the structured level's dialects loaded."""
    ctx = make_context()
    for dialect in (linalg.Linalg, tensor.Tensor):
        if dialect.name not in ctx.registered_dialect_names:
            ctx.load_dialect(dialect)
    module = Parser(ctx, text).parse_module()
    module.verify()
    return module


@dataclass
class Picture:
    """A dot text read back: node labels, edges with their labels, the nodes of each cluster."""

    nodes: dict[str, str] = field(default_factory=dict)
    edges: list[tuple[str, str, str | None, bool]] = field(default_factory=list)
    clusters: dict[str, list[str]] = field(default_factory=dict)
    cluster_labels: dict[str, str] = field(default_factory=dict)
    title: str | None = None

    def edge_label(self, source: str, target: str) -> str | None:
        (label,) = [label for s, t, label, _ in self.edges if (s, t) == (source, target)]
        return label

    def labelled(self, prefix: str) -> list[str]:
        """Ids of the nodes whose label starts with `prefix`."""
        return [id_ for id_, label in self.nodes.items() if label.startswith(prefix)]


def read(dot: str) -> Picture:
    picture = Picture()
    open_clusters: list[str] = []
    assert dot.startswith("digraph aidjit {\n") and dot.endswith("}\n")
    for line in dot.splitlines()[1:-1]:
        if match := CLUSTER.match(line):
            open_clusters.append(json.loads(match[1]))
            picture.clusters[open_clusters[-1]] = []
        elif line.strip() == "}":
            open_clusters.pop()
        elif match := CLUSTER_LABEL.match(line):
            label = json.loads(match[1])
            if open_clusters:
                picture.cluster_labels[open_clusters[-1]] = label
            else:
                picture.title = label
        elif match := EDGE.match(line):
            attributes = match[3] or ""
            label = re.search(rf"label=({STRING})", attributes)
            picture.edges.append(
                (
                    json.loads(match[1]),
                    json.loads(match[2]),
                    json.loads(label[1]) if label else None,
                    "style=dashed" in attributes,
                )
            )
        elif match := NODE.match(line):
            id_ = json.loads(match[1])
            assert id_ not in picture.nodes, f"node {id_} declared twice"
            picture.nodes[id_] = json.loads(match[2])
            for cluster in open_clusters:
                picture.clusters[cluster].append(id_)
        else:
            assert re.match(r"^\s*(graph|node|edge) \[|^\s*\{rank=same;", line), line
    assert not open_clusters
    return picture


def check_with_graphviz(dot: str) -> None:
    """Where Graphviz is installed, it must accept the text."""
    if HAS_DOT:
        run = subprocess.run(["dot", "-Tcanon"], input=dot, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr


def w1(x: aidjit.Tensor, a: aidjit.Tensor, b: aidjit.Tensor) -> aidjit.Tensor:
    """bench/workloads.py's W1 elementwise chain."""
    return ops.tanh(x * a + b) * ops.sigmoid(x) + 0.5 * x * x - ops.exp(-ops.abs(x))


@pytest.fixture(scope="module")
def w1_graph() -> ModuleOp:
    """W1 on 1024x1024 float32, traced to the graph level (no pipeline: the `graph` stage)."""
    spec = Spec((1024, 1024), np.dtype(np.float32))
    arguments = [TraceArgument(name, name, spec) for name in ("x", "a", "b")]
    module = trace_to_module(trace_function(w1, arguments, "w1"))
    module.verify()
    return module


# ----- the graph level ------------------------------------------------------------------------


def test_graph_level_has_a_node_per_op_argument_and_result(w1_graph: ModuleOp) -> None:
    dot = module_to_dot(w1_graph)
    picture = read(dot)
    (function,) = w1_graph.ops
    body = list(function.body.block.ops)
    ops_drawn = len(body) - 1  # all but func.return
    assert len(picture.nodes) == ops_drawn + 3 + 1
    assert picture.clusters == {}
    assert picture.title == "@w1"
    assert len(picture.labelled("%")) == 3
    assert picture.labelled("result 0\n1024x1024 f32")
    assert len(picture.labelled("exp\n1024x1024 f32")) == 1
    assert picture.labelled("constant 0.5\nf32")
    check_with_graphviz(dot)


def test_graph_level_edges_carry_the_bytes_of_each_tensor(w1_graph: ModuleOp) -> None:
    picture = read(module_to_dot(w1_graph))
    (function,) = w1_graph.ops
    # One edge per distinct operand of each op, and one per returned value.
    expected = sum(len(set(op.operands)) for op in function.body.block.ops)
    assert len(picture.edges) == expected
    (constant,) = picture.labelled("constant")
    for source, _, label, dashed in picture.edges:
        assert not dashed
        assert label == ("4 B" if source == constant else "4.0 MiB")  # 1024*1024 f32
    (x,) = picture.labelled("%x")
    assert sum(source == x for source, *_ in picture.edges) == 5  # x feeds 5 ops


# ----- the structured level ---------------------------------------------------------------------


def test_structured_level_draws_a_cluster_per_generic_with_its_body() -> None:
    dot = module_to_dot(parse(STRUCTURED))
    picture = read(dot)
    ((cluster, members),) = picture.clusters.items()
    assert picture.cluster_labels[cluster] == "generic 4x[8] (parallel, reduction)"
    labels = sorted(picture.nodes[id_] for id_ in members)
    assert labels == sorted(
        [
            "in0 (d0, d1)",
            "in1 (d1)",
            "init0 = 0 (d0)",  # the fill of 0.0 into tensor.empty, folded into the generic
            "arith.subf\nf32",
            "math.exp\nf32",
            "arith.addf\nf32",
            "out0 (d0)",
            "out1 (d0, d1)",
        ]
    )
    outside = sorted(label for id_, label in picture.nodes.items() if id_ not in members)
    assert outside == [
        "%b\n8 f32",
        "%x\n4x8 f32",
        "result 0\n4 f32",
        "result 1\n4x8 f32",
        "tensor.collapse_shape\n32 f32",
    ]
    check_with_graphviz(dot)


def test_structured_level_edges_weigh_what_crosses_loop_nests() -> None:
    picture = read(module_to_dot(parse(STRUCTURED)))
    (x,), (b,) = picture.labelled("%x"), picture.labelled("%b")
    (in0,), (in1,) = picture.labelled("in0"), picture.labelled("in1")
    (out0,), (out1,) = picture.labelled("out0"), picture.labelled("out1")
    (subf,), (exp,), (addf,) = (
        picture.labelled(f"{n}\n") for n in ("arith.subf", "math.exp", "arith.addf")
    )
    (init0,), (collapse,) = picture.labelled("init0"), picture.labelled("tensor.collapse")
    (result0,), (result1,) = picture.labelled("result 0"), picture.labelled("result 1")
    assert picture.edge_label(x, in0) == "128 B"  # 4x8 f32
    assert picture.edge_label(b, in1) == "32 B"  # a row of 8 f32, broadcast by its map
    assert picture.edge_label(out1, collapse) == "128 B"
    assert picture.edge_label(out0, result0) == "16 B"
    assert picture.edge_label(out1, result1) == "128 B"
    body = {
        (in0, subf),
        (in1, subf),
        (subf, exp),
        (exp, addf),
        (init0, addf),
        (addf, out0),
        (exp, out1),
    }
    assert {(s, t) for s, t, label, _ in picture.edges if label is None} == body
    assert len(picture.edges) == len(body) + 5


def test_structured_level_edges_between_generics_and_unfolded_initialisations() -> None:
    dot = module_to_dot(parse(CHAIN))
    picture = read(dot)
    assert sorted(picture.cluster_labels.values()) == [
        "generic 512x1024 (parallel, parallel)",
        "generic 512x[1024] (parallel, reduction)",
    ]
    (exp_out0,), (exp_out1,) = picture.labelled("out0 (d0, d1)"), picture.labelled("out1")
    (sum_in0,), (sum_init,) = picture.labelled("in0 (d0, d1)")[1:], picture.labelled("init0")
    assert picture.edge_label(exp_out0, sum_in0) == "4.0 MiB"  # 512x1024 f64 between the nests
    # A fill of a runtime scalar is a node: its edge from %s weighs 8 B, into the sum's init.
    (fill,), (s,) = picture.labelled("linalg.fill"), picture.labelled("%s")
    assert picture.nodes[fill] == "linalg.fill\n512 f64"
    assert picture.edge_label(s, fill) == "8 B"
    assert picture.edge_label(fill, sum_init) == "4.0 KiB"
    assert picture.nodes[sum_init] == "init0 (d0)"
    # %d is only written (its block argument is unused): a dashed edge without bytes.
    (d,) = picture.labelled("%d")
    assert [edge for edge in picture.edges if edge[0] == d] == [(d, exp_out1, None, True)]
    # A tensor.empty is a node unless a generic's output is all it initialises: the one the
    # unfolded fill writes, the one returned; the 512x1024 destination of the exp is folded.
    empties = picture.labelled("tensor.empty")
    assert [picture.nodes[e] for e in empties] == ["tensor.empty\n512 f64", "tensor.empty\n3 f64"]
    # No data moves out of a tensor.empty (its contents are undefined): dashed, no bytes.
    (returned,) = picture.labelled("result 1")
    assert (empties[1], returned, None, True) in picture.edges
    assert (empties[0], fill, None, True) in picture.edges
    check_with_graphviz(dot)


# ----- several functions, names, determinism ---------------------------------------------------


def test_several_functions_are_clusters_with_their_own_ids() -> None:
    module = parse(STRUCTURED + CHAIN)
    picture = read(module_to_dot(module, title="two functions"))
    assert picture.title == "two functions"
    assert picture.cluster_labels["cluster_f0"] == "@f"
    assert picture.cluster_labels["cluster_f1"] == "@chain"
    single = [read(module_to_dot(parse(text))) for text in (STRUCTURED, CHAIN)]
    assert len(picture.nodes) == sum(len(p.nodes) for p in single)
    assert len(picture.edges) == sum(len(p.edges) for p in single)
    for index, part in enumerate(single):
        members = picture.clusters[f"cluster_f{index}"]
        assert sorted(picture.nodes[id_] for id_ in members) == sorted(part.nodes.values())
        assert all(id_.startswith(f"f{index}.") for id_ in members)


def test_odd_names_and_titles_are_escaped() -> None:
    odd = 'we"ird\\N name'  # a quote, and a backslash dot would read as its \N escape
    module = parse(
        'func.func @"we\\"ird\\\\N name"(%x: tensor<2xf32>) -> tensor<2xf32> {\n'
        "  %y = graph.exp %x : tensor<2xf32>\n"
        "  func.return %y : tensor<2xf32>\n}"
    )
    (function,) = module.ops
    assert function.sym_name.data == odd
    assert read(module_to_dot(module)).title == f"@{odd}"
    title = 'a "quoted" title\\ on\ntwo lines'
    dot = module_to_dot(module, title=title)
    assert read(dot).title == title
    assert quote(title) == '"a \\"quoted\\" title\\\\ on\\ntwo lines"'
    check_with_graphviz(dot)


def test_output_is_deterministic_and_ids_do_not_depend_on_names() -> None:
    first, again = module_to_dot(parse(CHAIN)), module_to_dot(parse(CHAIN))
    assert first == again
    renamed = module_to_dot(parse(CHAIN.replace("%x", "%input").replace("@chain", "@g")))
    assert renamed != first
    assert [line.split(" [label=")[0] for line in renamed.splitlines()] == [
        line.split(" [label=")[0] for line in first.splitlines()
    ]


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (0, "0 B"),
        (12, "12 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (16 * 1024, "16 KiB"),
        (4 * 1024 * 1024, "4.0 MiB"),
        (1024 * 1024 - 1, "1.0 MiB"),  # 1023.999 KiB would print as "1024 KiB"
        (int(1.5 * 1024**3), "1.5 GiB"),
        (10 * 1024**5, "10240 TiB"),
    ],
)
def test_bytes_read_like_ls_h(count: int, text: str) -> None:
    assert human_bytes(count) == text


# ----- levels that cannot be drawn --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "op", "why"),
    [
        (LOOPS, "scf.for", "the scf dialect is below the linalg level"),
        (BUFFERIZED, "linalg.generic", "memrefs (memref<4xf32>), after bufferization"),
        (GLOBAL, "memref.global", "at module level"),
        (
            "func.func @copy(%x: memref<4xf32>) {\n  func.return\n}",
            "func.func",
            "memrefs (memref<4xf32>)",
        ),
    ],
)
def test_levels_below_linalg_on_tensors_are_refused(text: str, op: str, why: str) -> None:
    module = parse(text)
    with pytest.raises(UnsupportedError, match="graph level and the structured level") as error:
        module_to_dot(module)
    assert f"cannot draw {op}" in str(error.value)
    assert why in str(error.value)
    assert blamed(error.value).name == op


# ----- rendering -------------------------------------------------------------------------------


def fake_dot(directory: Path, script: str) -> None:
    """A `dot` stand-in on PATH, ahead of any real one."""
    program = directory / "dot"
    program.write_text("#!/bin/sh\n" + script)
    program.chmod(0o755)


def test_render_writes_dot_text_without_graphviz(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name, *args, **kwargs: None)
    dot = module_to_dot(parse(STRUCTURED))
    written = render(dot, tmp_path / "fused.svg")
    assert written == tmp_path / "fused.dot"
    assert written.read_text() == dot
    assert not (tmp_path / "fused.svg").exists()


def test_render_runs_dot_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Records its arguments, writes its input to the -o file: `dot -Tpng -o FILE`.
    fake_dot(tmp_path, 'echo "$@" > "$3.args"\n/bin/cat > "$3"\n')
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    dot = module_to_dot(parse(STRUCTURED))
    written = render(dot, str(tmp_path / "picture"), format="png")
    assert written == tmp_path / "picture.png"
    assert written.read_text() == dot
    assert Path(f"{written}.args").read_text().split() == ["-Tpng", "-o", str(written)]


def test_render_reports_what_dot_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dot(tmp_path, 'echo "Error: <stdin>: syntax error in line 3" >&2\nexit 1\n')
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    with pytest.raises(
        RenderError, match=r"exit status 1\): Error: <stdin>: syntax error in line 3"
    ):
        render("digraph {", tmp_path / "broken.svg")


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is not installed")
def test_render_draws_svg_with_graphviz(tmp_path: Path, w1_graph: ModuleOp) -> None:
    written = render(module_to_dot(w1_graph), tmp_path / "w1.svg")
    assert written == tmp_path / "w1.svg"
    svg = written.read_text()
    assert "<svg" in svg and "4.0 MiB" in svg and "tanh" in svg
    with pytest.raises(RenderError, match="not-a-format"):
        render(module_to_dot(w1_graph), tmp_path / "w1", format="not-a-format")
