"""bufferize: tensors become memrefs, every intermediate gets a slice of one planned workspace.

    func.func @f(%x: tensor<4x8xf32>) -> tensor<4xf32>          (linalg on tensors)
        ==>
    func.func @f(%x: memref<4x8xf32>, %out0: memref<4xf32>, %workspace: memref<128xi8>)

Conventions the runtime relies on (those of the loop level): inputs keep their order, one
output buffer per result is appended (`%out0`, ...), functions return nothing, and every output
buffer is written. When the function needs temporaries, one last argument
`%workspace: memref<Nxi8>` holds them all: the caller allocates it once per compiled function
and thread and passes it to every call, so a call allocates nothing.

Where each value lives, in order of preference:
- a returned value made by a generic, a fill or an insert_slice is computed straight into its
  output buffer (through a reshape view when it is reshaped before being returned, and into
  the buffer of the fill an insert_slice writes over; an insert_slice into a `tensor.empty`,
  a concat's first, is the first write of its buffer and copies nothing in);
- a generic writes over an input that dies at that op when both are indexed the same way (in
  place: each element is read, then overwritten, in the same iteration);
- a generic's `outs` that is a fill used only there, or an insert_slice's destination used
  only there, is updated in its own buffer; so is the initial value of an `scf.for` carrying
  a tensor (a scatter-add: `tensor.extract` / `tensor.insert` in its body become a load and a
  store, the loop loses its iter_args), and the destination of a `tensor.insert`;
- anything else gets fresh bytes in the workspace, and `plan_memory` lets buffers whose
  lifetimes do not overlap share them.
Reshapes of contiguous buffers are views (`memref.collapse_shape` / `expand_shape`), slices are
strided views (`memref.subview`), non-splat constants are private globals, splat constants are
fills. A returned argument, constant, view or duplicate is copied into its output buffer.
A tensor an op's regions read from above (a gather's `tensor.extract` of its source) counts as
read by that op: it lives until then, is never overwritten by it in place, and the extract
becomes a `memref.load` of its buffer. Scalar ops at function level (a one-iteration loop that
canonicalize inlined) move over unchanged.

The function records `aidjit.bytes_without_reuse` (what one buffer per value would need) as an
attribute, for `compiled.stats`; the workspace's size is its argument's type.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from xdsl.builder import Builder, ImplicitBuilder
from xdsl.context import Context
from xdsl.dialects import arith, func, memref, scf, tensor
from xdsl.dialects.builtin import (
    AffineMapAttr,
    DenseIntOrFPElementsAttr,
    IndexType,
    IntegerAttr,
    MemRefType,
    ModuleOp,
    StringAttr,
    TensorType,
    UnitAttr,
    i8,
    i64,
)
from xdsl.dialects.linalg import ops as linalg
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.ir.affine import AffineExpr, AffineMap
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from aidjit.dialects.graph import splat_value
from aidjit.errors import UnsupportedError, blame
from aidjit.lowering.structured import (
    PARALLEL,
    build_generic,
    captured_tensors,
    generic_maps,
    identity_map,
    reshape,
    scalar_constant,
    shaped_bytes,
)
from aidjit.transforms.fuse_rows import ROW_GROUP
from aidjit.transforms.memory_plan import Lifetime, aligned, plan_memory

RESHAPES = (tensor.CollapseShapeOp, tensor.ExpandShapeOp)
INSERTS = (tensor.InsertSliceOp, tensor.InsertOp)
WRITERS = (linalg.GenericOp, linalg.FillOp, *INSERTS, scf.ForOp)
"""Ops that may compute a returned value straight into its output buffer."""
VIEWS = (*RESHAPES, tensor.ExtractSliceOp)
"""Tensor ops whose result is a view of their source once bufferized."""


def memref_of(type_: TensorType) -> MemRefType:
    return MemRefType(type_.get_element_type(), type_.get_shape())


# ----- storage: where values live -----------------------------------------------------------------


@dataclass(eq=False)
class Storage:
    """Contiguous memory holding one or more tensor values over time (in place, views)."""

    type: MemRefType
    kind: str
    """"argument", "output", "global" or "workspace"."""
    output: int | None = None
    first: int = 0
    last: int = 0
    memref: SSAValue | None = None
    """The memref of `type` over this memory, once built (an argument, a view, a global)."""


@dataclass
class Analysis:
    """Which storage each tensor value of one function lives in, and for how long."""

    function: func.FuncOp
    reuse: bool
    ops: list[Operation] = field(default_factory=list)
    storage_of: dict[SSAValue, Storage] = field(default_factory=dict)
    storages: list[Storage] = field(default_factory=list)
    last_use: dict[SSAValue, int] = field(default_factory=dict)
    strided: set[SSAValue] = field(default_factory=set)
    """Values that are non-contiguous views (slices, and views of them)."""
    spans: list[tuple[int, int]] = field(default_factory=list)

    def run(self) -> None:
        self.ops = list(self.function.body.block.ops)
        self._lifetimes()
        for arg in self.function.body.block.args:
            self.storage_of[arg] = self._new(arg.type, "argument", 0)
        destinations = self._destinations()
        for position, op in enumerate(self.ops):
            self._assign(op, self.spans[position][0], destinations)

    def _row_group_spans(self) -> list[tuple[int, int]]:
        """(first, last) position of the row loop each op runs in: a row group's members run
        interleaved, so what any of them writes is live from the group's first op and what any
        of them reads is live until its last (and nothing is overwritten in place there)."""
        spans = [(position, position) for position in range(len(self.ops))]
        members: dict[object, list[int]] = {}
        for position, op in enumerate(self.ops):
            group = op.attributes.get(ROW_GROUP)
            if group is not None:
                members.setdefault(group, []).append(position)
        for positions in members.values():
            first, last = min(positions), max(positions)
            for position in range(first, last + 1):
                spans[position] = (first, last)
        return spans

    def _lifetimes(self) -> None:
        end = len(self.ops)
        self.spans = self._row_group_spans()
        for position, op in enumerate(self.ops):
            for operand in (*op.operands, *captured_tensors(op)):
                self.last_use[operand] = self.spans[position][1]
            for result in op.results:
                self.last_use.setdefault(result, self.spans[position][1])
        for value in self.ops[-1].operands:  # func.return
            self.last_use[value] = end
        # A view keeps its source alive: walk backwards so chains of views propagate.
        for op in reversed(self.ops):
            if isinstance(op, VIEWS):
                source, result = op.operands[0], op.results[0]
                self.last_use[source] = max(self.last_use[source], self.last_use[result])

    def _destinations(self) -> dict[SSAValue, int]:
        """Values that may be computed in an output buffer: each returned value, followed back
        through single-use reshapes, insert_slice destinations and fills that initialise a
        generic's output, to the op that first writes it."""
        destinations: dict[SSAValue, int] = {}
        for index, value in enumerate(self.ops[-1].operands):
            while True:
                owner = value.owner
                if isinstance(owner, RESHAPES):
                    inner = owner.operands[0]
                    if not inner.type.get_shape() or not value.type.get_shape():
                        break  # a rank-0 buffer has no reshape view (see structured.reshape)
                elif isinstance(owner, INSERTS) and not _into_empty(owner):
                    inner = owner.dest
                elif isinstance(owner, linalg.GenericOp) and isinstance(
                    owner.outputs[value.index].owner, linalg.FillOp
                ):
                    inner = owner.outputs[value.index]
                elif isinstance(owner, scf.ForOp):
                    inner = owner.iter_args[value.index]
                else:
                    break
                if inner.uses.get_length() != 1:
                    break
                value = inner
            if isinstance(value.owner, WRITERS):
                destinations.setdefault(value, index)
        return destinations

    def _new(self, type_: MemRefType | TensorType, kind: str, position: int) -> Storage:
        if isinstance(type_, TensorType):
            type_ = memref_of(type_)
        storage = Storage(type_, kind, first=position, last=position)
        self.storages.append(storage)
        return storage

    def _bind(self, value: SSAValue, storage: Storage) -> None:
        self.storage_of[value] = storage
        storage.last = max(storage.last, self.last_use.get(value, storage.first))

    def _fresh(self, value: SSAValue, position: int, destinations: dict[SSAValue, int]) -> None:
        if value in destinations:
            storage = self._new(value.type, "output", position)
            storage.output = destinations[value]
        else:
            storage = self._new(value.type, "workspace", position)
        self._bind(value, storage)

    def _updatable(self, value: SSAValue, position: int) -> bool:
        """`value`'s storage may be overwritten at `position`: a temporary or output that no
        one reads afterwards, seen whole (not through a view)."""
        storage = self.storage_of.get(value)
        return (
            storage is not None
            and storage.kind in ("workspace", "output")
            and value not in self.strided
            and storage.type.get_shape() == tuple(value.type.get_shape())
            and storage.last == position
        )

    def _assign(self, op: Operation, position: int, destinations: dict[SSAValue, int]) -> None:
        if isinstance(op, VIEWS):
            source, result = op.operands[0], op.results[0]
            if isinstance(op, RESHAPES) and source in self.strided:
                self._fresh(result, position, destinations)  # a copy: strides do not reshape
                return
            self._bind(result, self.storage_of[source])
            if isinstance(op, tensor.ExtractSliceOp) or source in self.strided:
                self.strided.add(result)
        elif isinstance(op, arith.ConstantOp) and isinstance(op.result.type, TensorType):
            # A splat is a fill, and a constant without elements needs no bytes at all.
            splat = splat_value(op.value) is not None or not shaped_bytes(op.result.type)
            storage = self._new(op.result.type, "workspace" if splat else "global", position)
            self._bind(op.result, storage)
        elif isinstance(op, linalg.FillOp):
            self._fresh(op.res[0], position, destinations)
        elif isinstance(op, INSERTS):
            result = op.result
            if result not in destinations and op.dest.uses.get_length() == 1:
                if self._updatable(op.dest, position):
                    self._bind(result, self.storage_of[op.dest])
                    return
            self._fresh(result, position, destinations)
        elif isinstance(op, linalg.GenericOp):
            self._assign_generic(op, position, destinations)
        elif isinstance(op, tensor.EmptyOp) and _read_as_input(op.tensor):
            # A pooling window: never read, but its shape sizes loops, so it needs a buffer.
            self._fresh(op.tensor, position, destinations)
        elif isinstance(op, scf.ForOp):
            self._assign_loop(op, position, destinations)
        elif not isinstance(op, tensor.EmptyOp) and any(
            isinstance(r.type, TensorType) for r in op.results
        ):
            raise blame(UnsupportedError(f"bufferize: no bufferization for {op.name}"), op)

    def _assign_generic(
        self, op: linalg.GenericOp, position: int, destinations: dict[SSAValue, int]
    ) -> None:
        maps = generic_maps(op)
        taken: set[int] = set()
        for index, (result, init) in enumerate(zip(op.res, op.outputs, strict=True)):
            if result in destinations:
                self._fresh(result, position, destinations)
            elif isinstance(init.owner, linalg.FillOp) and init.uses.get_length() == 1:
                self._bind(result, self.storage_of[init])
            elif (reused := self._dying_input(op, position, maps, index, taken)) is not None:
                taken.add(reused)
                self._bind(result, self.storage_of[op.inputs[reused]])
            else:
                self._fresh(result, position, destinations)

    def _assign_loop(self, op: scf.ForOp, position: int, destinations: dict[SSAValue, int]) -> None:
        """A loop carrying tensors (a scatter) updates each in the buffer of its initial value
        when that dies here and the loop reads it through nothing else; else in a fresh one."""
        read = {self.storage_of.get(v) for v in captured_tensors(op)}
        for result, init in zip(op.results, op.iter_args, strict=True):
            storage = self.storage_of.get(init)
            in_place = (
                result not in destinations
                and init.uses.get_length() == 1
                and self._updatable(init, position)
                and storage not in read
            )
            if in_place:
                self._bind(result, storage)
            else:
                self._fresh(result, position, destinations)

    def _dying_input(
        self,
        op: linalg.GenericOp,
        position: int,
        maps: Sequence[object],
        output: int,
        taken: set[int],
    ) -> int | None:
        """An input whose storage result `output` can overwrite (see the module docstring)."""
        if not self.reuse:
            return None
        result = op.res[output]
        out_map = maps[len(op.inputs) + output]
        for index, value in enumerate(op.inputs):
            if index in taken or value.type != result.type or maps[index] != out_map:
                continue
            if not self._updatable(value, position):
                continue
            storage = self.storage_of[value]
            read = (*op.operands, *captured_tensors(op))
            readers = [v for v in read if self.storage_of.get(v) is storage]
            if len(readers) == 1:
                return index
        return None

    def plan(self) -> tuple[dict[Storage, int], int, int]:
        planned = [s for s in self.storages if s.kind == "workspace"]
        lifetimes = [
            Lifetime(shaped_bytes(s.type), s.first, s.last, str(s.type.get_element_type()))
            for s in planned
        ]
        plan = plan_memory(lifetimes, reuse=self.reuse)
        # Without reuse every value has its own bytes, values made in place included.
        without_reuse = sum(
            aligned(shaped_bytes(value.type))
            for value, storage in self.storage_of.items()
            if storage.kind == "workspace" and not isinstance(value.owner, VIEWS)
        )
        return dict(zip(planned, plan.offsets, strict=True)), plan.size, without_reuse


# ----- building the memref function -------------------------------------------------------------


def _same_group(made: Operation, op: Operation) -> None:
    if ROW_GROUP in op.attributes:
        made.attributes[ROW_GROUP] = op.attributes[ROW_GROUP]


def copy(source: SSAValue, dest: SSAValue) -> linalg.GenericOp:
    """`dest = source` elementwise: a generic, so it lowers and fuses like every other loop.

    A rank-0 `dest` may take the one element of a `source` of any rank (its dims all 1): a
    rank-0 buffer has no view with the source's shape (xDSL 0.74 has no rank-0 expand_shape).
    """
    rank = len(dest.type.get_shape())
    source_rank = len(source.type.get_shape())
    source_map = identity_map(rank)
    if source_rank != rank:
        assert rank == 0, f"copy: {source.type} into {dest.type}"
        source_map = AffineMap(0, 0, (AffineExpr.constant(0),) * source_rank)
    return build_generic(
        [source],
        [source_map],
        [dest],
        [identity_map(rank)],
        [PARALLEL] * rank,
        lambda args: [args[0]],
    )


def _into_empty(op: tensor.InsertSliceOp | tensor.InsertOp) -> bool:
    """An insert_slice into a `tensor.empty` is the first write of its buffer: nothing to keep
    or initialise (a concat's first operand; the later ones cover the rest)."""
    return isinstance(op.dest.owner, tensor.EmptyOp)


def _slice_parameters(op: tensor.ExtractSliceOp | tensor.InsertSliceOp) -> list[list[int]]:
    return [
        list(op.static_offsets.get_values()),
        list(op.static_sizes.get_values()),
        list(op.static_strides.get_values()),
    ]


def subview(source: SSAValue, op: tensor.ExtractSliceOp | tensor.InsertSliceOp) -> SSAValue:
    offsets, sizes, strides = _slice_parameters(op)
    view = memref.SubviewOp.from_static_parameters(source, source.type, offsets, sizes, strides)
    return view.result


class Emitter:
    """Builds the memref-level body of one function, op by op, in the original order."""

    def __init__(self, analysis: Analysis, block: Block, out_args: Sequence[SSAValue]) -> None:
        self.analysis = analysis
        self.block = block
        self.out_args = list(out_args)
        self.memrefs: dict[SSAValue, SSAValue] = dict(
            zip(analysis.function.body.block.args, block.args, strict=False)
        )
        # Bodies are cloned up front: under the ImplicitBuilder every cloned op would be
        # appended to the function's block.
        self.bodies = {
            op: op.body.clone() for op in analysis.ops if isinstance(op, linalg.GenericOp)
        }

    def storage_memref(self, value: SSAValue) -> SSAValue:
        """The memref of `value` as a whole value of its storage (reshaped if need be)."""
        storage = self.analysis.storage_of[value]
        assert storage.memref is not None
        return reshape(storage.memref, value.type.get_shape())

    def define(self, value: SSAValue) -> SSAValue:
        self.memrefs[value] = self.storage_memref(value)
        return self.memrefs[value]

    def initialise(self, dest: SSAValue, init: SSAValue, user: Operation) -> None:
        """`dest = init`, by refilling when `init` is a fill (no read of a second buffer); in
        the row group of `user`, the op that needs it."""
        owner = init.owner
        if isinstance(owner, linalg.FillOp):
            made: Operation = linalg.FillOp([owner.inputs[0]], [dest], [])
        else:
            made = copy(self.memrefs[init], dest)
        _same_group(made, user)

    def operation(self, op: Operation) -> None:
        storage_of = self.analysis.storage_of
        if isinstance(op, tensor.EmptyOp):
            if op.tensor in storage_of:
                self.define(op.tensor)
            return
        if isinstance(op, arith.ConstantOp) and isinstance(op.result.type, TensorType):
            dest = self.define(op.result)
            splat = splat_value(op.value)
            if splat is not None:
                scalar = scalar_constant(splat, op.result.type.get_element_type())
                linalg.FillOp([scalar], [dest], [])
        elif isinstance(op, tensor.ExtractOp):
            load = memref.LoadOp.get(self.memrefs[op.tensor], list(op.indices))
            op.result.replace_all_uses_with(load.res)
        elif isinstance(op, tensor.InsertOp):
            dest = self.define(op.result)
            if storage_of[op.result] is not storage_of[op.dest]:
                self.initialise(dest, op.dest, op)
            memref.StoreOp.get(op.scalar, dest, list(op.indices))
        elif not any(isinstance(r.type, TensorType) for r in op.results) and op.results:
            # Scalars (constants, a one-iteration scatter loop canonicalize inlined) move over.
            op.detach()
            self.block.add_op(op)
        elif isinstance(op, RESHAPES):
            source, result = op.operands[0], op.results[0]
            if storage_of[result] is storage_of[source]:
                self.memrefs[result] = reshape(self.memrefs[source], result.type.get_shape())
            else:
                dest = self.define(result)
                if result.type.get_shape():
                    dest = reshape(dest, source.type.get_shape())
                copy(self.memrefs[source], dest)
        elif isinstance(op, tensor.ExtractSliceOp):
            self.memrefs[op.result] = subview(self.memrefs[op.source], op)
        elif isinstance(op, tensor.InsertSliceOp):
            dest = self.define(op.result)
            if not _into_empty(op) and storage_of[op.result] is not storage_of[op.dest]:
                self.initialise(dest, op.dest, op)
            copy(self.memrefs[op.source], subview(dest, op))
        elif isinstance(op, linalg.FillOp):
            _same_group(linalg.FillOp([op.inputs[0]], [self.define(op.res[0])], []), op)
        elif isinstance(op, linalg.GenericOp):
            self.generic(op)
        elif isinstance(op, scf.ForOp):
            self.loop(op)
        elif isinstance(op, func.ReturnOp):
            self.returned(op)

    def loop(self, op: scf.ForOp) -> None:
        """A loop carrying tensors becomes one updating their buffers in place: its tensor
        block arguments and results are those buffers, extract and insert a load and a store."""
        carried = []
        for result, init in zip(op.results, op.iter_args, strict=True):
            dest = self.define(result)
            if self.analysis.storage_of[init] is not self.analysis.storage_of[result]:
                self.initialise(dest, init, op)
            carried.append(dest)
        _loop_on_buffers(op, carried, dict(self.memrefs))

    def generic(self, op: linalg.GenericOp) -> None:
        storage_of = self.analysis.storage_of
        inputs = [self.memrefs[v] if isinstance(v.type, TensorType) else v for v in op.inputs]
        outputs = []
        for result, init in zip(op.res, op.outputs, strict=True):
            dest = self.define(result)
            initialised = not isinstance(init.owner, tensor.EmptyOp)
            if initialised and init in storage_of and storage_of[init] is not storage_of[result]:
                self.initialise(dest, init, op)
            outputs.append(dest)
        _load_captured(self.bodies[op], self.memrefs)
        bufferized = linalg.GenericOp(
            inputs,
            outputs,
            self.bodies[op],
            [AffineMapAttr(m) for m in generic_maps(op)],
            op.iterator_types,
            [],
        )
        bufferized.attributes |= op.attributes

    def returned(self, op: func.ReturnOp) -> None:
        for index, value in enumerate(op.arguments):
            storage = self.analysis.storage_of[value]
            whole = value not in self.analysis.strided
            if not (storage.kind == "output" and storage.output == index and whole):
                copy(self.memrefs[value], self.out_args[index])
        func.ReturnOp()


def _read_as_input(value: SSAValue) -> bool:
    """`value` is an input (not an `outs`) of some generic."""
    return any(
        isinstance(use.operation, linalg.GenericOp) and use.index < len(use.operation.inputs)
        for use in value.uses
    )


def _load_captured(body: Region, memrefs: dict[SSAValue, SSAValue]) -> None:
    """A body's reads of tensors from above (a gather's `tensor.extract`) read their buffers."""
    for op in list(body.walk()):
        if isinstance(op, tensor.ExtractOp):
            # Built at the extract, not at the function's insertion point (the Emitter's).
            with ImplicitBuilder(Builder(InsertPoint.before(op))):
                load = memref.LoadOp.get(memrefs[op.tensor], list(op.indices))
            op.result.replace_all_uses_with(load.res)
            op.detach()
            op.erase()


def _loop_on_buffers(
    op: scf.ForOp, carried: Sequence[SSAValue], mapping: dict[SSAValue, SSAValue]
) -> None:
    """`op` rebuilt at the insertion point with its tensors in `mapping`'s buffers and those it
    carries in `carried`: no iter_args, `tensor.extract` a load, `tensor.insert` a store into
    the buffer its destination lives in, nested loops alike."""
    body = op.body.block
    mapping.update(zip(body.args[1:], carried, strict=True))
    rebuilt = scf.ForOp(
        mapping.get(op.lb, op.lb),
        mapping.get(op.ub, op.ub),
        mapping.get(op.step, op.step),
        [],
        Block(arg_types=[body.args[0].type]),
    )
    mapping[body.args[0]] = rebuilt.body.block.args[0]
    with ImplicitBuilder(rebuilt.body.block):
        for inner in body.ops:
            indices = [mapping.get(v, v) for v in getattr(inner, "indices", ())]
            if isinstance(inner, scf.ForOp):
                buffers = [mapping[v] for v in inner.iter_args]
                _loop_on_buffers(inner, buffers, mapping)
                mapping.update(zip(inner.results, buffers, strict=True))
            elif isinstance(inner, tensor.ExtractOp):
                load = memref.LoadOp.get(mapping[inner.tensor], indices)
                mapping[inner.result] = load.res
            elif isinstance(inner, tensor.InsertOp):
                buffer = mapping[inner.dest]
                memref.StoreOp.get(mapping.get(inner.scalar, inner.scalar), buffer, indices)
                mapping[inner.result] = buffer
            elif isinstance(inner, scf.YieldOp):
                scf.YieldOp()
            else:
                inner.clone(value_mapper=mapping)
    for result, buffer in zip(op.results, carried, strict=True):
        mapping[result] = buffer


def _erase_unused_views(block: Block) -> None:
    """Views made up front (reshaped outputs) that no op ended up reading."""
    for op in reversed(list(block.ops)):
        if isinstance(op, memref.ViewOp | memref.CollapseShapeOp | memref.ExpandShapeOp):
            if not op.results[0].uses:
                op.detach()
                op.erase()


class FunctionBufferization:
    def __init__(self, module: ModuleOp, function: func.FuncOp, reuse: bool) -> None:
        self.module = module
        self.function = function
        self.analysis = Analysis(function, reuse)
        self.taken = {op.sym_name.data for op in module.body.block.ops if hasattr(op, "sym_name")}

    def _global_name(self) -> str:
        count = 0
        name = self.function.sym_name.data
        while f"{name}_cst{count}" in self.taken:
            count += 1
        self.taken.add(f"{name}_cst{count}")
        return f"{name}_cst{count}"

    def run(self) -> func.FuncOp:
        function_type = self.function.function_type
        inputs = [memref_of(t) for t in function_type.inputs.data]
        outputs = [memref_of(t) for t in function_type.outputs.data]
        block = Block(arg_types=[*inputs, *outputs])
        arguments, out_args = block.args[: len(inputs)], block.args[len(inputs) :]
        for new, old in zip(arguments, self.function.body.block.args, strict=True):
            new.name_hint = old.name_hint
        for index, out in enumerate(out_args):
            out.name_hint = f"out{index}"
        analysis = self.analysis
        analysis.run()
        offsets, size, without_reuse = analysis.plan()
        globals_ = self._globals()
        emitter = Emitter(analysis, block, out_args)
        with ImplicitBuilder(block):
            self._materialise(block, out_args, offsets, size, globals_)
            for op in analysis.ops:
                emitter.operation(op)
        _erase_unused_views(block)
        for global_op in globals_.values():
            self.module.body.block.insert_op_before(global_op, self.function)
        bufferized = func.FuncOp(
            self.function.sym_name.data, ([a.type for a in block.args], []), Region(block)
        )
        bufferized.attributes["aidjit.bytes_without_reuse"] = IntegerAttr(without_reuse, i64)
        return bufferized

    def _globals(self) -> dict[Storage, memref.GlobalOp]:
        """Private globals for the non-splat constants (built outside the function's block)."""
        globals_: dict[Storage, memref.GlobalOp] = {}
        for op in self.analysis.ops:
            if not isinstance(op, arith.ConstantOp) or not isinstance(
                op.value, DenseIntOrFPElementsAttr
            ):
                continue
            storage = self.analysis.storage_of[op.result]
            if storage.kind == "global":
                globals_[storage] = memref.GlobalOp.get(
                    StringAttr(self._global_name()),
                    storage.type,
                    op.value,
                    constant=UnitAttr(),
                    alignment=64,
                )
        return globals_

    def _materialise(
        self,
        block: Block,
        out_args: Sequence[SSAValue],
        offsets: dict[Storage, int],
        size: int,
        globals_: dict[Storage, memref.GlobalOp],
    ) -> None:
        """The memref of every storage: arguments, outputs, globals and workspace views."""
        for storage in self.analysis.storages:
            if storage.kind == "output":
                storage.memref = reshape(out_args[storage.output], storage.type.get_shape())  # type: ignore[index]
            elif storage.kind == "global":
                symbol = globals_[storage].sym_name.data
                storage.memref = memref.GetGlobalOp(symbol, storage.type).memref
        for old, new in zip(self.function.body.block.args, block.args, strict=False):
            self.analysis.storage_of[old].memref = new
        if not size:
            return
        workspace = block.insert_arg(MemRefType(i8, [size]), len(block.args))
        workspace.name_hint = "workspace"
        for storage, offset in offsets.items():
            shift = arith.ConstantOp(IntegerAttr(offset, IndexType())).result
            storage.memref = memref.ViewOp(workspace, shift, [], storage.type).results[0]


@dataclass(frozen=True)
class BufferizePass(ModulePass):
    """Turn tensors into memrefs, temporaries into views of one planned workspace.

    `reuse=false` gives every temporary its own bytes, for comparison.
    """

    name = "bufferize"
    reuse: bool = True

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for function in list(op.body.block.ops):
            if not isinstance(function, func.FuncOp):
                continue
            types = [*function.function_type.inputs.data, *function.function_type.outputs.data]
            if not any(isinstance(t, TensorType) for t in types):
                continue
            bufferized = FunctionBufferization(op, function, self.reuse).run()
            Rewriter.replace_op(function, bufferized)
