"""Pictures of a module: Graphviz dot of the graph level and of the structured (linalg) level.

The point is to see what fusion did. At the graph level every `graph` op is a box; at the
structured level every `linalg.generic` is a cluster (one fused group, one loop nest) holding the
scalar ops of its body. Edges between ops carry the bytes of the tensor that crosses them, so the
memory traffic that fusion removes is visible as the edges that disappear:

    graph level (W1): 13 boxes, 20 edges      fused: 1 cluster, 4 edges

    (%x)     (%a)     (%b)                    (%x)      (%a)      (%b)
      | 4.0 MiB |       |                       | 4.0 MiB | 4.0 MiB | 4.0 MiB
      +----+----+       |                    +- generic 1048576 (parallel) -+
           |            |                    | in0 (d0)  in1 (d0)  in2 (d0) |
      [multiply]        |                    |    arith.mulf  arith.addf    |
           | 4.0 MiB    | 4.0 MiB            |      math.tanh  ...          |
         [add] ---------+                    | out0 (d0)                    |
           | 4.0 MiB                         +------------------------------+
        [tanh]  ...                                     | 4.0 MiB
                                                   ((result 0))

Inside a cluster, `inN` and `initN` are the generic's inputs and accumulators (labelled with
their indexing maps, so a broadcast reads as `(d1)`) and `outN` its results. A `tensor.empty`
or `linalg.fill` that only initialises a generic's output is folded into that generic's
`initN` node: it moves no data between loop nests. Anything below the structured level on
tensors (memrefs, `scf` loops) is refused with an `UnsupportedError`.

`render` turns dot text into SVG with Graphviz's `dot` program when it is installed, and writes the
dot text itself otherwise. Only the standard library is used.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from xdsl.dialects import func
from xdsl.dialects.builtin import (
    DenseIntOrFPElementsAttr,
    FixedBitwidthType,
    FloatAttr,
    IntegerAttr,
    MemRefType,
    ModuleOp,
    TensorType,
)
from xdsl.dialects.linalg.ops import FillOp, GenericOp
from xdsl.ir import Attribute, Block, Operation, SSAValue, Use
from xdsl.traits import ConstantLike

from aidjit.errors import RenderError, UnsupportedError, blame
from aidjit.lowering.structured import loop_ranges
from aidjit.transforms.fuse_rows import ROW_GROUP

DRAWABLE_DIALECTS = frozenset({"graph", "linalg", "tensor", "arith", "math"})
"""Dialects whose ops are drawn: the graph level and the structured level on tensors."""

DRAWABLE_LEVELS = (
    "the graph level and the structured level on tensors (the stages before bufferization)"
)

_STYLES: dict[str, str] = {
    "argument": 'shape=ellipse, style=filled, fillcolor="#e8f0fe"',
    "result": 'shape=ellipse, peripheries=2, style=filled, fillcolor="#e6f4ea"',
    "op": "shape=box",
    "constant": "shape=box, style=dashed",
    "port": 'shape=box, style="rounded,filled", fillcolor="#ffffff", fontsize=9',
    "body": "shape=box, style=rounded, fontsize=9",
}
"""Node attributes by kind: arguments and results are ellipses, ops are boxes."""

_GROUP_STYLE = 'style="rounded,filled", fillcolor="#fff4e0", color="#e0a040"'
_FUNCTION_STYLE = 'style=rounded, color="#999999"'
_ROW_GROUP_STYLE = 'style="rounded,dashed", color="#c06000"'
_BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


# ----- text ------------------------------------------------------------------------------------


def quote(text: str) -> str:
    """`text` as a double-quoted dot string (an ID or a label), newlines as dot's `\\n`.

    Backslashes are doubled first, so a name holding `\\N` or `\\l` is shown as written instead
    of being read as one of dot's label escapes.
    """
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "\\n".join(escaped.splitlines()) + '"'


def human_bytes(count: int) -> str:
    """Byte counts the way `ls -h` shows them: `12 B`, `16 KiB`, `4.0 MiB`, `1.5 GiB`."""
    if count < 1024:
        return f"{count} B"
    value = count / 1024
    for unit in _BYTE_UNITS[1:-1]:
        if float(_three_digits(value)) < 1024:
            return f"{_three_digits(value)} {unit}"
        value /= 1024
    return f"{_three_digits(value)} {_BYTE_UNITS[-1]}"


def _three_digits(value: float) -> str:
    """One decimal below 10 (`4.0`), none from there on (`16`, `1000`), as `ls -h` prints."""
    return f"{value:.1f}" if value < 9.95 else f"{value:.0f}"


def type_bytes(type_: Attribute) -> int | None:
    """Bytes a value of `type_` occupies, or None when unknown (a dynamic dimension)."""
    if isinstance(type_, TensorType):
        shape = type_.get_shape()
        element = type_bytes(type_.get_element_type())
        if element is None or any(dim < 0 for dim in shape):
            return None
        return math.prod(shape) * element
    if isinstance(type_, FixedBitwidthType):
        return -(-type_.bitwidth // 8)  # an i1 takes a byte, as a numpy bool does
    return None


def type_text(type_: Attribute) -> str:
    """`4x8 f32` for a tensor, `f32` for a scalar or a rank-0 tensor."""
    if not isinstance(type_, TensorType):
        return str(type_)
    dims = "x".join("?" if dim < 0 else str(dim) for dim in type_.get_shape())
    element = str(type_.get_element_type())
    return f"{dims} {element}" if dims else element


def _constant_text(value: Attribute) -> str | None:
    """The value of a scalar or splat constant (`0.5`), None for any other."""
    if isinstance(value, FloatAttr | IntegerAttr):
        return f"{value.value.data:g}"
    if isinstance(value, DenseIntOrFPElementsAttr) and value.is_splat():
        return f"{value.get_values()[0]:g}"
    return None


def _op_label(op: Operation) -> str:
    """The op's name (without `graph.`), a splat constant's value, then one line per result."""
    name = op.name.removeprefix("graph.")
    value = op.properties.get("value")
    shown = _constant_text(value) if value is not None else None
    head = f"{name} {shown}" if shown is not None else name
    return "\n".join([head, *(type_text(result.type) for result in op.results)])


def _map_text(generic: GenericOp, index: int) -> str:
    """The results of the operand's indexing map: `(d0, d1)`, or `(d1)` for a broadcast row."""
    results = generic.indexing_maps.data[index].data.results
    return "(" + ", ".join(str(expr) for expr in results) + ")"


def _group_label(generic: GenericOp) -> str:
    """`generic 4096x[1024] (parallel, reduction)`: the loop nest, reduction extents in brackets."""
    kinds = [str(kind.data) for kind in generic.iterator_types.data]
    extents = [
        "?" if extent < 0 else f"[{extent}]" if kind == "reduction" else str(extent)
        for extent, kind in zip(generic.get_static_loop_ranges(), kinds, strict=True)
    ]
    return f"generic {'x'.join(extents)} ({', '.join(kinds)})"


# ----- the dot writer ---------------------------------------------------------------------------


@dataclass
class _Dot:
    """Lines of a digraph, indented by nesting, with one edge per (source, target, value)."""

    lines: list[str] = field(default_factory=list)
    depth: int = 1
    _edges: set[tuple[str, str, SSAValue]] = field(default_factory=set)

    def emit(self, line: str) -> None:
        self.lines.append("  " * self.depth + line)

    def node(self, id_: str, label: str, kind: str) -> None:
        self.emit(f"{quote(id_)} [label={quote(label)}, {_STYLES[kind]}];")

    def edge(
        self,
        source: str,
        target: str,
        value: SSAValue,
        *,
        weighed: bool = True,
        dashed: bool = False,
    ) -> None:
        """An edge carrying `value`; `weighed` ones are labelled with the value's bytes."""
        if (source, target, value) in self._edges:
            return  # `x * x` reads x once
        self._edges.add((source, target, value))
        size = type_bytes(value.type) if weighed else None
        attributes = [] if size is None else [f"label={quote(human_bytes(size))}"]
        attributes += ["style=dashed"] if dashed else []
        listed = f" [{', '.join(attributes)}]" if attributes else ""
        self.emit(f"{quote(source)} -> {quote(target)}{listed};")

    def same_rank(self, ids: list[str]) -> None:
        if len(ids) > 1:
            self.emit("{rank=same; " + " ".join(quote(id_) for id_ in ids) + "}")

    @contextmanager
    def cluster(self, id_: str, label: str, style: str) -> Iterator[None]:
        self.emit(f"subgraph {quote('cluster_' + id_)} {{")
        self.depth += 1
        self.emit(f"graph [label={quote(label)}, {style}];")
        yield
        self.depth -= 1
        self.emit("}")


# ----- drawing a function -----------------------------------------------------------------------


def _refuse(op: Operation, where: str, why: str) -> UnsupportedError:
    return blame(
        UnsupportedError(
            f"cannot draw {op.name} {where}: {why}; module_to_dot draws {DRAWABLE_LEVELS}"
        ),
        op,
    )


def _check_drawable(op: Operation, where: str) -> None:
    if op.dialect_name() not in DRAWABLE_DIALECTS:
        raise _refuse(op, where, f"the {op.dialect_name()} dialect is below the linalg level")
    _check_types(op, where, (*op.operands, *op.results))


def _check_types(op: Operation, where: str, values: Sequence[SSAValue]) -> None:
    for value in values:
        if isinstance(value.type, MemRefType):
            raise _refuse(op, where, f"it works on memrefs ({value.type}), after bufferization")


def _is_output_operand(use: Use) -> bool:
    """Whether `use` is an `outs` operand of a `linalg.generic`: a destination, not data read."""
    return isinstance(use.operation, GenericOp) and use.index >= len(use.operation.inputs)


def _fill_value(fill: FillOp) -> str | None:
    """The constant a `linalg.fill` writes (`0`), None when it is not a known scalar."""
    source = fill.inputs[0].owner
    if not (isinstance(source, Operation) and source.name == "arith.constant"):
        return None
    return _constant_text(source.properties["value"])


def _folded_inits(block: Block) -> dict[SSAValue, str]:
    """Values that only initialise generics' outputs, with what they fill them with.

    A `tensor.empty` (contents undefined: `empty`) and a `linalg.fill` of a constant (`= 0`)
    move no data between loop nests: they are shown in the consuming generic's `initN` node
    instead of as nodes of their own, and so is a constant that only such fills read. Ops are
    visited last to first, so every user of a value is decided before the value itself.
    """
    folded: dict[SSAValue, str] = {}

    def hidden(use: Use) -> bool:
        return any(result in folded for result in use.operation.results)

    for op in reversed(block.ops):
        if len(op.results) != 1 or not op.results[0].uses:
            continue
        result, uses = op.results[0], list(op.results[0].uses)
        if _is_empty(result) and all(_is_output_operand(u) or hidden(u) for u in uses):
            folded[result] = "empty"
        elif isinstance(op, FillOp) and all(_is_output_operand(use) for use in uses):
            value = _fill_value(op)
            if value is not None:
                folded[result] = f"= {value}"
        elif op.name == "arith.constant" and all(hidden(use) for use in uses):
            folded[result] = "constant"
    return folded


def _is_empty(value: SSAValue) -> bool:
    return isinstance(value.owner, Operation) and value.owner.name == "tensor.empty"


@dataclass
class _FunctionDrawer:
    """Draws one function: arguments, ops (generics as clusters), returned values."""

    dot: _Dot
    function: func.FuncOp
    prefix: str
    source: dict[SSAValue, str] = field(default_factory=dict)
    """The node each drawn value comes from; folded initialisations have none."""

    def draw(self) -> None:
        block = self.function.body.block
        where = f"in @{self.function.sym_name.data}"
        for op in block.ops:
            if not isinstance(op, func.ReturnOp):
                _check_drawable(op, where)
        _check_types(self.function, where, block.args)  # after the ops, which name the level
        folded = _folded_inits(block)
        arguments = []
        for index, argument in enumerate(block.args):
            id_ = f"{self.prefix}arg{index}"
            label = f"%{argument.name_hint or f'arg{index}'}\n{type_text(argument.type)}"
            self.dot.node(id_, label, "argument")
            self.source[argument] = id_
            arguments.append(id_)
        self.dot.same_rank(arguments)
        ops = list(block.ops)
        row_groups: dict[Attribute, list[int]] = {}
        for index, op in enumerate(ops):
            if isinstance(op, GenericOp) and ROW_GROUP in op.attributes:
                row_groups.setdefault(op.attributes[ROW_GROUP], []).append(index)
        for index, op in enumerate(ops):
            id_ = f"{self.prefix}op{index}"
            if isinstance(op, func.ReturnOp):
                self._draw_results(op, id_)
            elif isinstance(op, GenericOp) and ROW_GROUP in op.attributes:
                first = row_groups[op.attributes[ROW_GROUP]][0]
                self._draw_row_member(op, id_, first, folded)
            elif isinstance(op, GenericOp):
                self._draw_group(op, id_, folded)
            elif not any(result in folded for result in op.results):
                self.dot.node(
                    id_, _op_label(op), "constant" if op.has_trait(ConstantLike) else "op"
                )
                for operand in op.operands:
                    self._connect(operand, id_)
                self.source.update((result, id_) for result in op.results)

    def _draw_row_member(self, op: GenericOp, id_: str, first: int, folded: dict) -> None:
        """A generic of a row group (linalg-fuse-rows) inside the group's outer cluster: the
        members run as one loop over the rows, each member's own loops inside it. DOT merges
        subgraphs of one name, so each member is added where it stands in the block."""
        label = f"row group: one loop over {loop_ranges(op)[0]} rows"
        with self.dot.cluster(f"{self.prefix}rows{first}", label, _ROW_GROUP_STYLE):
            self._draw_group(op, id_, folded)

    def _connect(self, value: SSAValue, target: str, *, read: bool = True) -> None:
        """An edge from `value`'s node, weighed by its bytes if its contents are `read`.

        Otherwise (a destination only written, a `tensor.empty` whose contents are undefined)
        the edge is dashed and carries no bytes: storage is handed over, no data moves.
        """
        read = read and not _is_empty(value)
        self.dot.edge(self.source[value], target, value, weighed=read, dashed=not read)

    def _draw_results(self, op: func.ReturnOp, id_: str) -> None:
        results = []
        for index, value in enumerate(op.arguments):
            result = f"{id_}.{index}"
            self.dot.node(result, f"result {index}\n{type_text(value.type)}", "result")
            self._connect(value, result)
            results.append(result)
        self.dot.same_rank(results)

    def _draw_group(self, generic: GenericOp, id_: str, folded: dict[SSAValue, str]) -> None:
        """A cluster: `inN`/`initN` ports, one node per body op, `outN` ports for the results.

        An output that the body never reads gets no `initN` port; when its destination tensor is
        drawn (not folded), a dashed edge without bytes goes to `outN`: it is written, not read.
        """
        body = generic.body.block
        inputs = len(generic.inputs)
        outer: list[tuple[SSAValue, str, bool]] = []  # edges into the cluster, drawn after it
        with self.dot.cluster(id_, _group_label(generic), _GROUP_STYLE):
            for index, (operand, argument) in enumerate(
                zip(generic.inputs, body.args[:inputs], strict=True)
            ):
                port = f"{id_}.in{index}"
                self.dot.node(port, f"in{index} {_map_text(generic, index)}", "port")
                self.source[argument] = port
                outer.append((operand, port, True))
            for index, operand in enumerate(generic.outputs):
                argument = body.args[inputs + index]
                if not argument.uses:
                    if operand not in folded:
                        outer.append((operand, f"{id_}.out{index}", False))
                    continue
                port = f"{id_}.init{index}"
                parts = (f"init{index}", folded.get(operand), _map_text(generic, inputs + index))
                self.dot.node(port, " ".join(part for part in parts if part), "port")
                self.source[argument] = port
                if operand not in folded:
                    outer.append((operand, port, True))
            for index, op in enumerate(body.ops):
                if op is body.last_op:  # linalg.yield: drawn as the outN ports
                    break
                node = f"{id_}.b{index}"
                self.dot.node(node, _op_label(op), "body")
                for operand in op.operands:
                    self.dot.edge(self.source[operand], node, operand, weighed=False)
                self.source.update((result, node) for result in op.results)
            for index, (result, yielded) in enumerate(
                zip(generic.results, body.last_op.operands, strict=True)
            ):
                port = f"{id_}.out{index}"
                self.dot.node(port, f"out{index} {_map_text(generic, inputs + index)}", "port")
                self.dot.edge(self.source[yielded], port, yielded, weighed=False)
                self.source[result] = port
        for value, target, read in outer:
            self._connect(value, target, read=read)


def module_to_dot(module: ModuleOp, *, title: str | None = None) -> str:
    """Graphviz dot text of every function of `module`, at the graph or structured level.

    One digraph; with several functions, one cluster per function. Node ids are derived from
    positions in the IR (`op3`, `op5.b2`, `f1.op3` with several functions), never from names, so
    the text is stable and any function or argument name is safe. Raises UnsupportedError for
    IR below the structured level on tensors (memrefs, loops), naming the op.
    """
    dot = _Dot()
    dot.emit('graph [fontname="Helvetica", labelloc=t];')
    dot.emit('node [fontname="Helvetica", fontsize=10];')
    dot.emit('edge [fontname="Helvetica", fontsize=9];')
    functions = []
    for op in module.ops:
        if not isinstance(op, func.FuncOp):
            raise _refuse(op, "at module level", "only func.func ops are drawn there")
        if op.body.blocks:  # a declaration has nothing to draw
            functions.append(op)
    if title is None and len(functions) == 1:
        title = f"@{functions[0].sym_name.data}"
    if title is not None:
        dot.emit(f"graph [label={quote(title)}];")
    several = len(functions) > 1
    for index, function in enumerate(functions):
        label = f"@{function.sym_name.data}"
        with dot.cluster(f"f{index}", label, _FUNCTION_STYLE) if several else nullcontext():
            _FunctionDrawer(dot, function, f"f{index}." if several else "").draw()
    return "\n".join(["digraph aidjit {", *dot.lines, "}"]) + "\n"


# ----- rendering --------------------------------------------------------------------------------


def render(dot_text: str, path: Path | str, *, format: str = "svg") -> Path:  # noqa: A002
    """Render `dot_text` to `path` with its suffix set to `format`, and return the file written.

    Without Graphviz's `dot` program on PATH, the dot text itself is written to `path` with a
    `.dot` suffix (any Graphviz viewer or https://dreampuf.github.io/GraphvizOnline shows it):
    a picture should not make Graphviz a dependency. Raises RenderError with dot's own message
    when dot fails (a syntax error, an unknown format).
    """
    path = Path(path)
    program = shutil.which("dot")
    if program is None:
        written = path.with_suffix(".dot")
        written.write_text(dot_text)
        return written
    written = path.with_suffix(f".{format}")
    try:
        run = subprocess.run(
            [program, f"-T{format}", "-o", str(written)],
            input=dot_text,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as error:
        raise RenderError(f"could not run Graphviz's dot ({program}): {error}") from error
    if run.returncode != 0:
        raise RenderError(
            f"Graphviz's dot ({program}) failed to render {written} as {format} "
            f"(exit status {run.returncode}): {run.stderr.strip()}"
        )
    return written
