"""The `graph` dialect: one op per aidjit primitive, on builtin tensor types.

Ops are declared by family (elementwise unary, elementwise binary with numpy broadcasting,
reduction, matmul, layout, one_hot) and each family's verifier asks the primitive's shape/dtype
rule — the same rule the eager tape uses — what the result must be. Folding evaluates the
primitive's numpy forward on constant operands, so the dialect, the tape and the interpreter can
never disagree about what an op means. Exact algebraic identities (`x * 1`, `-(-x)`, ...) are
folds too; rewrites that build new ops live in `transforms/canonicalization_patterns/graph.py`.

Custom syntax, for example:

    %0 = graph.constant dense<1.0> : tensor<f32>
    %1 = graph.add %x, %0 : tensor<4x3xf32>, tensor<f32> -> tensor<4x3xf32>
    %2 = graph.exp %1 : tensor<4x3xf32>
    %3 = graph.sum %2 {axes = array<i64: 1>, keepdims} : tensor<4x3xf32> -> tensor<4x1xf32>
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from xdsl.dialect_interfaces.constant_materialization import ConstantMaterializationInterface
from xdsl.dialects.builtin import (
    BytesAttr,
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    FloatAttr,
    IntegerAttr,
    StringAttr,
    TensorType,
    UnitAttr,
    f64,
    i64,
)
from xdsl.interfaces import HasCanonicalizationPatternsInterface, HasFolderInterface
from xdsl.ir import Attribute, Dialect, Operation, SSAValue
from xdsl.irdl import (
    AnyAttr,
    IRDLOperation,
    ParamAttrConstraint,
    ParsePropInAttrDict,
    VarConstraint,
    base,
    irdl_op_definition,
    operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    traits_def,
    var_operand_def,
)
from xdsl.parser import Parser
from xdsl.pattern_rewriter import RewritePattern
from xdsl.printer import Printer
from xdsl.traits import ConstantLike, Pure
from xdsl.utils.exceptions import VerifyException

from aidjit.autodiff.primitives import Primitive, Spec, get_primitive
from aidjit.dtypes import BY_ELEMENT, BY_NUMPY, TENSOR_DTYPES, one_of
from aidjit.errors import AidjitError

FOLD_LIMIT = 1 << 20
"""Largest constant (in elements) a fold may create: folding must not blow up the IR."""

# ----- conversions between builtin types/attributes and numpy ---------------------------------

_SUPPORTED_ELEMENTS = one_of([dtype.short for dtype in TENSOR_DTYPES])


def numpy_dtype(element_type: Attribute) -> np.dtype:
    row = BY_ELEMENT.get(element_type)
    if row is None:
        raise VerifyException(
            f"element type {element_type} is not supported: use {_SUPPORTED_ELEMENTS}"
        )
    return row.numpy


def element_type(dtype: np.dtype) -> Attribute:
    return BY_NUMPY[np.dtype(dtype)].element


def spec_of(type_: Attribute) -> Spec:
    if not isinstance(type_, TensorType):
        raise VerifyException(f"expected a ranked tensor type, got {type_}")
    shape = tuple(type_.get_shape())
    if any(dim < 0 for dim in shape):
        raise VerifyException(f"dynamic shapes are not supported: {type_}")
    return Spec(shape, numpy_dtype(type_.get_element_type()))


def tensor_type(spec: Spec) -> TensorType[Any]:
    return TensorType(element_type(spec.dtype), spec.shape)


def _repeats_first(data: bytes, count: int) -> bool:
    """Whether the `count` elements stored in `data` all have the bytes of the first.

    Bits, not `==`: -0.0 == 0.0 and NaN != NaN, so comparing values would merge a constant
    holding both zeros into one repeated zero (and never compress a NaN splat), changing what
    the program computes (`x / [-0.0, 0.0]`). Distinct NaN payloads stay distinct too.
    """
    return count > 0 and data == data[: len(data) // count] * count


def dense_attr(array: np.ndarray) -> DenseIntOrFPElementsAttr[Any]:
    """A dense attribute holding `array`; a splat (all elements bitwise equal) stores one."""
    array = np.asarray(array)
    type_ = tensor_type(Spec(tuple(array.shape), array.dtype))
    data = array.tobytes()
    if _repeats_first(data, array.size):
        data = data[: array.itemsize]
    return DenseIntOrFPElementsAttr(type_, BytesAttr(data))


def _is_bitwise_splat(attr: DenseIntOrFPElementsAttr[Any]) -> bool:
    return _repeats_first(attr.data.data, len(attr))


# xDSL 0.74's `DenseIntOrFPElementsAttr.is_splat` compares element values with `==`, so the
# printer writes the constant [-0.0, 0.0, 0.0] as `dense<-0.0>`, which parses back as three
# -0.0: every printed stage (`aidjit-opt`, `ir()`, FileCheck tests) would change the program.
# Bytes decide instead, for every user of `is_splat` (printer and upstream passes alike).
DenseIntOrFPElementsAttr.is_splat = _is_bitwise_splat  # type: ignore[method-assign]


def dense_to_numpy(attr: DenseIntOrFPElementsAttr[Any]) -> np.ndarray:
    spec = spec_of(attr.type)
    flat = np.frombuffer(attr.data.data, dtype=spec.dtype)
    if flat.size == 1 and math.prod(spec.shape) != 1:
        return np.full(spec.shape, flat[0], dtype=spec.dtype)
    return flat.reshape(spec.shape).copy()


def splat_value(attr: Attribute) -> int | float | None:
    """The single value of a splat dense attribute, else None (reads the stored elements only).

    An `int` for an integer element type and a `float` for a float one, so a lowering builds
    the right kind of constant (an i64 splat is an `IntegerAttr`, exact beyond 2**53); a zero
    keeps its sign.
    """
    if not isinstance(attr, DenseIntOrFPElementsAttr) or not _is_bitwise_splat(attr):
        return None
    return np.frombuffer(attr.data.data, dtype=spec_of(attr.type).dtype, count=1)[0].item()


def int_array(values: Sequence[int]) -> DenseArrayBase[Any]:
    return DenseArrayBase.from_list(i64, [int(v) for v in values])


def constant_operand(value: SSAValue) -> np.ndarray | None:
    attr = ConstantLike.get_constant_value(value)
    if isinstance(attr, DenseIntOrFPElementsAttr):
        return dense_to_numpy(attr)
    return None


# ----- the constant op ------------------------------------------------------------------------


@irdl_op_definition
class ConstantOp(IRDLOperation, HasFolderInterface):
    """A tensor known at compile time."""

    name = "graph.constant"
    T: ClassVar = VarConstraint("T", base(TensorType))
    value = prop_def(ParamAttrConstraint(DenseIntOrFPElementsAttr, (T, AnyAttr())))
    result = result_def(T)
    traits = traits_def(Pure(), ConstantLike())
    assembly_format = "$value attr-dict"

    def __init__(self, value: DenseIntOrFPElementsAttr[Any]) -> None:
        super().__init__(properties={"value": value}, result_types=[value.type])

    @classmethod
    def from_numpy(cls, array: np.ndarray) -> ConstantOp:
        return cls(dense_attr(array))

    def fold(self) -> Sequence[SSAValue | Attribute]:
        return (self.value,)

    def verify_(self) -> None:
        spec_of(self.result.type)


# ----- op families ------------------------------------------------------------------------------


class GraphOp(IRDLOperation, HasFolderInterface):
    """An op computed by one primitive; verified and folded through that primitive.

    The primitive is the op name without `graph.`; subclasses say how their properties map to
    the primitive's parameters.
    """

    @classmethod
    def primitive(cls) -> Primitive:
        return get_primitive(cls.name.removeprefix("graph."))

    def params(self) -> dict[str, Any]:
        return {}

    @classmethod
    def properties_for(cls, params: dict[str, Any]) -> dict[str, Attribute]:
        return {}

    @classmethod
    def build_from(
        cls, operands: Sequence[SSAValue], params: dict[str, Any], result: Spec
    ) -> GraphOp:
        return cls.create(
            operands=list(operands),
            result_types=[tensor_type(result)],
            properties=cls.properties_for(params),
        )

    def operand_specs(self) -> list[Spec]:
        return [spec_of(operand.type) for operand in self.operands]

    def verify_(self) -> None:
        specs = self.operand_specs()
        try:
            expected = self.primitive().infer(specs, self.params())
        except AidjitError as error:
            message = str(error).removeprefix(f"{self.primitive().name}: ")
            raise VerifyException(f"{self.name}: {message}") from None
        actual = spec_of(self.results[0].type)
        if actual != expected:
            operands = ", ".join(str(s) for s in specs)
            raise VerifyException(
                f"{self.name}: result type {actual} does not match {expected}, "
                f"inferred from operands {operands}"
            )

    def fold(self) -> Sequence[SSAValue | Attribute] | None:
        simplified = self.simplify()
        if simplified is not None:
            return (simplified,)
        arrays = [constant_operand(operand) for operand in self.operands]
        if any(a is None for a in arrays):
            return None
        result = spec_of(self.results[0].type)
        if math.prod(result.shape) > FOLD_LIMIT:
            return None
        value = self.primitive().evaluate(arrays, self.params())
        return (dense_attr(value),)

    def simplify(self) -> SSAValue | None:
        """An existing value equal to this op's result in every case, else None."""
        return None

    def same_type_as_result(self, value: SSAValue) -> bool:
        return value.type == self.results[0].type


class ElementwiseUnaryOp(GraphOp):
    T: ClassVar = VarConstraint("T", base(TensorType))
    input = operand_def(T)
    result = result_def(T)
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input)"

    def __init__(self, input: SSAValue) -> None:
        super().__init__(operands=[input], result_types=[input.type])


class ParametrizedUnaryOp(ElementwiseUnaryOp):
    """An elementwise unary op with scalar parameters: one property per parameter of its
    primitive, named as the parameter. A number is an f64 `FloatAttr` (exact for f32 and f64
    tensors), a choice a `StringAttr`; a parameter that may be None (clip's bounds) is an
    optional property, absent when None. Subclasses only declare the properties:

        %0 = graph.leaky_relu %x {negative_slope = 0.01 : f64} : tensor<4xf32>
        %1 = graph.gelu %x {approximate = "tanh"} : tensor<4xf32>
    """

    irdl_options = (ParsePropInAttrDict(),)

    def params(self) -> dict[str, Any]:
        return {name: _param_value(self.properties.get(name)) for name in self.primitive().params}

    @classmethod
    def properties_for(cls, params: dict[str, Any]) -> dict[str, Attribute]:
        return {name: _param_attr(v) for name, v in params.items() if v is not None}


def _param_value(attr: Attribute | None) -> float | str | None:
    if isinstance(attr, FloatAttr):
        return float(attr.value.data)
    if isinstance(attr, StringAttr):
        return attr.data
    return None


def _param_attr(value: float | str) -> Attribute:
    return StringAttr(value) if isinstance(value, str) else FloatAttr(float(value), f64)


class BinaryOp(GraphOp):
    """Two tensor operands, one tensor result, all types spelled out in the syntax."""

    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    assembly_format = "$lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs) `->` type($result)"


class ElementwiseBinaryOp(BinaryOp):
    """Numpy broadcasting: operand shapes may differ, the result has the broadcast shape."""

    RIGHT_IDENTITY: ClassVar[float | None] = None
    """A splat right operand with this exact value leaves lhs unchanged (x * 1, x - 0.0)."""
    LEFT_IDENTITY: ClassVar[float | None] = None

    def simplify(self) -> SSAValue | None:
        for identity, kept, other in (
            (self.RIGHT_IDENTITY, self.lhs, self.rhs),
            (self.LEFT_IDENTITY, self.rhs, self.lhs),
        ):
            if identity is None or not self.same_type_as_result(kept):
                continue
            value = constant_operand(other)
            if value is not None and _is_exactly(value, identity):
                return kept
        return None


def _is_exactly(array: np.ndarray, identity: float) -> bool:
    """All elements equal `identity`, with the sign of zero respected (x + 0.0 is not exact)."""
    flat = array.reshape(-1)
    if flat.size == 0 or array.dtype.kind != "f":
        return False
    negative_identity = math.copysign(1.0, identity) < 0
    return bool(np.all(flat == identity) and np.all(np.signbit(flat) == negative_identity))


class ReductionOp(GraphOp):
    input = operand_def(TensorType)
    result = result_def(TensorType)
    axes = prop_def(DenseArrayBase)
    keepdims = opt_prop_def(UnitAttr)
    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def params(self) -> dict[str, Any]:
        return {"axes": tuple(self.axes.get_values()), "keepdims": self.keepdims is not None}

    @classmethod
    def properties_for(cls, params: dict[str, Any]) -> dict[str, Attribute]:
        properties: dict[str, Attribute] = {"axes": int_array(params["axes"])}
        if params["keepdims"]:
            properties["keepdims"] = UnitAttr()
        return properties

    def simplify(self) -> SSAValue | None:
        # Reducing over no axis is the identity.
        if not self.axes.get_values() and self.same_type_as_result(self.input):
            return self.input
        return None


class LayoutOp(GraphOp):
    """Moves elements without computing: transpose, reshape, broadcast_to."""

    input = operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def params(self) -> dict[str, Any]:
        return {"shape": tuple(self.result.type.get_shape())}

    def simplify(self) -> SSAValue | None:
        if self.same_type_as_result(self.input) and self.is_identity():
            return self.input
        return None

    def is_identity(self) -> bool:
        return True


# ----- elementwise unary ----------------------------------------------------------------------


@irdl_op_definition
class NegateOp(ElementwiseUnaryOp):
    name = "graph.negate"

    def simplify(self) -> SSAValue | None:
        owner = self.input.owner
        return owner.input if isinstance(owner, NegateOp) else None


@irdl_op_definition
class AbsOp(ElementwiseUnaryOp):
    name = "graph.abs"


@irdl_op_definition
class SignOp(ElementwiseUnaryOp):
    name = "graph.sign"


@irdl_op_definition
class ExpOp(ElementwiseUnaryOp):
    name = "graph.exp"


@irdl_op_definition
class LogOp(ElementwiseUnaryOp):
    name = "graph.log"


@irdl_op_definition
class SqrtOp(ElementwiseUnaryOp):
    name = "graph.sqrt"


@irdl_op_definition
class ReluOp(ElementwiseUnaryOp):
    name = "graph.relu"


@irdl_op_definition
class SigmoidOp(ElementwiseUnaryOp):
    name = "graph.sigmoid"


@irdl_op_definition
class TanhOp(ElementwiseUnaryOp):
    name = "graph.tanh"


# ----- elementwise binary ---------------------------------------------------------------------


@irdl_op_definition
class AddOp(ElementwiseBinaryOp):
    name = "graph.add"
    # -0.0 is the exact identity of IEEE addition: x + 0.0 turns -0.0 into +0.0.
    RIGHT_IDENTITY: ClassVar[float | None] = -0.0
    LEFT_IDENTITY: ClassVar[float | None] = -0.0


@irdl_op_definition
class SubtractOp(ElementwiseBinaryOp):
    name = "graph.subtract"
    RIGHT_IDENTITY: ClassVar[float | None] = 0.0


@irdl_op_definition
class MultiplyOp(ElementwiseBinaryOp):
    name = "graph.multiply"
    # x * 0 is not folded: nan * 0, inf * 0 and -x * 0 are not 0.
    RIGHT_IDENTITY: ClassVar[float | None] = 1.0
    LEFT_IDENTITY: ClassVar[float | None] = 1.0


@irdl_op_definition
class DivideOp(ElementwiseBinaryOp):
    name = "graph.divide"
    RIGHT_IDENTITY: ClassVar[float | None] = 1.0


@irdl_op_definition
class PowerOp(ElementwiseBinaryOp):
    name = "graph.power"
    RIGHT_IDENTITY: ClassVar[float | None] = 1.0


@irdl_op_definition
class MaximumOp(ElementwiseBinaryOp):
    name = "graph.maximum"


@irdl_op_definition
class MinimumOp(ElementwiseBinaryOp):
    name = "graph.minimum"


@irdl_op_definition
class GreaterOp(ElementwiseBinaryOp):
    name = "graph.greater"


@irdl_op_definition
class GreaterEqualOp(ElementwiseBinaryOp):
    name = "graph.greater_equal"


@irdl_op_definition
class EqualOp(ElementwiseBinaryOp):
    name = "graph.equal"


@irdl_op_definition
class NotEqualOp(ElementwiseBinaryOp):
    name = "graph.not_equal"


# ----- reductions -------------------------------------------------------------------------------


@irdl_op_definition
class SumOp(ReductionOp):
    name = "graph.sum"


@irdl_op_definition
class MeanOp(ReductionOp):
    name = "graph.mean"


@irdl_op_definition
class ReduceMaxOp(ReductionOp):
    name = "graph.reduce_max"


# ----- matmul -----------------------------------------------------------------------------------


@irdl_op_definition
class MatmulOp(BinaryOp):
    """2-D, batched 3-D, or 3-D @ 2-D matrix product."""

    name = "graph.matmul"


# ----- layout -----------------------------------------------------------------------------------


@irdl_op_definition
class TransposeOp(LayoutOp, HasCanonicalizationPatternsInterface):
    name = "graph.transpose"
    perm = prop_def(DenseArrayBase)
    irdl_options = (ParsePropInAttrDict(),)

    def params(self) -> dict[str, Any]:
        return {"perm": tuple(self.perm.get_values())}

    @classmethod
    def properties_for(cls, params: dict[str, Any]) -> dict[str, Attribute]:
        return {"perm": int_array(params["perm"])}

    def is_identity(self) -> bool:
        return tuple(self.perm.get_values()) == tuple(range(len(self.perm.get_values())))

    @classmethod
    def get_canonicalization_patterns(cls) -> tuple[RewritePattern, ...]:
        from aidjit.transforms.canonicalization_patterns.graph import ComposeTransposePattern

        return (ComposeTransposePattern(),)


@irdl_op_definition
class ReshapeOp(LayoutOp, HasCanonicalizationPatternsInterface):
    name = "graph.reshape"

    @classmethod
    def get_canonicalization_patterns(cls) -> tuple[RewritePattern, ...]:
        from aidjit.transforms.canonicalization_patterns.graph import ComposeReshapePattern

        return (ComposeReshapePattern(),)


@irdl_op_definition
class BroadcastToOp(LayoutOp):
    name = "graph.broadcast_to"


@irdl_op_definition
class SliceOp(LayoutOp, HasCanonicalizationPatternsInterface):
    """out[i] = in[start + i * strides] per axis; the sizes are the result type's shape."""

    name = "graph.slice"
    start = prop_def(DenseArrayBase)
    strides = prop_def(DenseArrayBase)
    irdl_options = (ParsePropInAttrDict(),)

    def params(self) -> dict[str, Any]:
        return {
            "start": tuple(self.start.get_values()),
            "strides": tuple(self.strides.get_values()),
            "shape": tuple(self.result.type.get_shape()),
        }

    @classmethod
    def properties_for(cls, params: dict[str, Any]) -> dict[str, Attribute]:
        return {"start": int_array(params["start"]), "strides": int_array(params["strides"])}

    def is_identity(self) -> bool:
        params = self.params()
        return not any(params["start"]) and all(s == 1 for s in params["strides"])

    @classmethod
    def get_canonicalization_patterns(cls) -> tuple[RewritePattern, ...]:
        from aidjit.transforms.canonicalization_patterns.graph import (
            SliceOfConvPattern,
            SliceOfPadPattern,
        )

        return (SliceOfConvPattern(), SliceOfPadPattern())


# ----- one_hot ------------------------------------------------------------------------------------


@irdl_op_definition
class OneHotOp(GraphOp):
    """int64 labels -> float tensor with one more axis; classes and dtype come from the type."""

    name = "graph.one_hot"
    labels = operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    assembly_format = "$labels attr-dict `:` type($labels) `->` type($result)"

    def params(self) -> dict[str, Any]:
        result = spec_of(self.result.type)
        num_classes = result.shape[-1] if result.shape else 0
        return {"num_classes": num_classes, "dtype": result.dtype.name}


# ----- pad, where, astype -----------------------------------------------------------------------


@irdl_op_definition
class PadOp(GraphOp):
    """`value` before (`low`), after (`high`) and between (`interior`) the elements, per axis.

    `value` is an f64 attribute (exact for f32 and f64 tensors, -inf for max pooling), absent
    when it is +0.0, the default; an i64 tensor needs an integral value.
    """

    name = "graph.pad"
    WIDTHS: ClassVar = ("low", "high", "interior")
    input = operand_def(TensorType)
    result = result_def(TensorType)
    low = prop_def(DenseArrayBase)
    high = prop_def(DenseArrayBase)
    interior = prop_def(DenseArrayBase)
    value = opt_prop_def(FloatAttr)
    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def params(self) -> dict[str, Any]:
        widths = {name: tuple(getattr(self, name).get_values()) for name in self.WIDTHS}
        return {**widths, "value": 0.0 if self.value is None else self.value.value.data}

    @classmethod
    def properties_for(cls, params: dict[str, Any]) -> dict[str, Attribute]:
        properties: dict[str, Attribute] = {name: int_array(params[name]) for name in cls.WIDTHS}
        value = float(params["value"])
        if value != 0.0 or math.copysign(1.0, value) < 0:  # -0.0 is kept: it is another fill
            properties["value"] = FloatAttr(value, f64)
        return properties

    def simplify(self) -> SSAValue | None:
        params = self.params()
        unpadded = not any(v for name in self.WIDTHS for v in params[name])
        return self.input if unpadded and self.same_type_as_result(self.input) else None


@irdl_op_definition
class WhereOp(GraphOp):
    """A select: `on_true` where `condition` (float or i64) is nonzero, else `on_false`."""

    name = "graph.where"
    condition = operand_def(TensorType)
    on_true = operand_def(TensorType)
    on_false = operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    assembly_format = (
        "$condition `,` $on_true `,` $on_false attr-dict `:` type($condition) `,` "
        "type($on_true) `,` type($on_false) `->` type($result)"
    )

    def simplify(self) -> SSAValue | None:
        condition = constant_operand(self.condition)
        if condition is None or condition.size == 0:
            return None
        chosen = self.on_true if np.all(condition != 0) else None
        if not np.any(condition != 0):
            chosen = self.on_false
        return chosen if chosen is not None and self.same_type_as_result(chosen) else None


@irdl_op_definition
class AstypeOp(GraphOp):
    """Element type conversion; the target dtype is the result type's."""

    name = "graph.astype"
    input = operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def params(self) -> dict[str, Any]:
        return {"dtype": spec_of(self.result.type).dtype.name}

    def simplify(self) -> SSAValue | None:
        return self.input if self.same_type_as_result(self.input) else None


# ----- shape and data movement (autodiff/ops/shape.py) -----------------------------------------


@irdl_op_definition
class ConcatOp(GraphOp):
    """Operands joined along `axis`; their other dims agree (verified by the primitive)."""

    name = "graph.concat"
    inputs = var_operand_def(TensorType)
    result = result_def(TensorType)
    axis = prop_def(IntegerAttr)
    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$inputs attr-dict `:` type($inputs) `->` type($result)"

    def params(self) -> dict[str, Any]:
        return {"axis": self.axis.value.data}

    @classmethod
    def properties_for(cls, params: dict[str, Any]) -> dict[str, Attribute]:
        return {"axis": IntegerAttr(params["axis"], i64)}

    def simplify(self) -> SSAValue | None:
        only = self.inputs[0] if len(self.inputs) == 1 else None
        return only if only is not None and self.same_type_as_result(only) else None


# ----- convolutions ---------------------------------------------------------------------------


@irdl_op_definition
class Conv2dOp(GraphOp):
    """A valid 2-D convolution: NCHW input, OIHW weights, `stride`, `dilation` and `groups`.

    Padding is a `graph.pad` before it. Custom syntax, attributes left out at their default
    of 1 (MLIR prints default-valued attributes the same way):

        %y = graph.conv2d %x, %w stride [2, 2] dilation [1, 2] groups 4
               : tensor<1x8x9x9xf32>, tensor<8x2x3x3xf32> -> tensor<1x8x4x3xf32>
    """

    name = "graph.conv2d"
    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    result = result_def(TensorType)
    stride = prop_def(DenseArrayBase)
    dilation = prop_def(DenseArrayBase)
    groups = prop_def(IntegerAttr)
    traits = traits_def(Pure())
    PAIRS: ClassVar = ("stride", "dilation")

    def params(self) -> dict[str, Any]:
        pairs = {name: tuple(getattr(self, name).get_values()) for name in self.PAIRS}
        return {**pairs, "groups": self.groups.value.data}

    @classmethod
    def properties_for(cls, params: dict[str, Any]) -> dict[str, Attribute]:
        properties: dict[str, Attribute] = {name: int_array(params[name]) for name in cls.PAIRS}
        return properties | {"groups": IntegerAttr(int(params["groups"]), i64)}

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_list(self.operands, printer.print_operand)
        params = self.params()
        for name in self.PAIRS:
            if params[name] != (1, 1):
                printer.print_string(f" {name} [{', '.join(str(v) for v in params[name])}]")
        if params["groups"] != 1:
            printer.print_string(f" groups {params['groups']}")
        printer.print_op_attributes(self.attributes)
        printer.print_string(" : ")
        printer.print_list((v.type for v in self.operands), printer.print_attribute)
        printer.print_string(" -> ")
        printer.print_attribute(self.result.type)

    @classmethod
    def parse(cls, parser: Parser) -> Conv2dOp:
        unresolved = [parser.parse_unresolved_operand()]
        parser.parse_punctuation(",")
        unresolved.append(parser.parse_unresolved_operand())
        params: dict[str, Any] = {"stride": (1, 1), "dilation": (1, 1), "groups": 1}
        for name in cls.PAIRS:
            if parser.parse_optional_keyword(name):
                params[name] = tuple(
                    parser.parse_comma_separated_list(
                        parser.Delimiter.SQUARE, lambda: parser.parse_integer(allow_boolean=False)
                    )
                )
        if parser.parse_optional_keyword("groups"):
            params["groups"] = parser.parse_integer(allow_boolean=False)
        attributes = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        types = [parser.parse_type()]
        parser.parse_punctuation(",")
        types.append(parser.parse_type())
        parser.parse_punctuation("->")
        result = parser.parse_type()
        return cls.create(
            operands=[parser.resolve_operand(o, t) for o, t in zip(unresolved, types, strict=True)],
            result_types=[result],
            properties=cls.properties_for(params),
            attributes=attributes,
        )


# ----- reductions and statistics (autodiff/ops/statistics.py) -------------------------------------


@irdl_op_definition
class ReduceMinOp(ReductionOp):
    name = "graph.reduce_min"


class ArgReductionOp(ReductionOp):
    """The int64 position of an extremum over `axes` (row-major within the reduced block):
    the first of ties, the first NaN if any. Lowered by its own builder, not `REDUCTIONS`."""

    EXTREMUM: ClassVar[str]
    """The reduction whose value this op locates."""


@irdl_op_definition
class ArgmaxOp(ArgReductionOp):
    name = "graph.argmax"
    EXTREMUM: ClassVar[str] = "graph.reduce_max"


@irdl_op_definition
class ArgminOp(ArgReductionOp):
    name = "graph.argmin"
    EXTREMUM: ClassVar[str] = "graph.reduce_min"


@irdl_op_definition
class CumsumOp(GraphOp):
    """Inclusive prefix sum along `axis` (an i64 attribute), summed first to last."""

    name = "graph.cumsum"
    T: ClassVar = VarConstraint("T", base(TensorType))
    input = operand_def(T)
    result = result_def(T)
    axis = prop_def(IntegerAttr)
    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$input attr-dict `:` type($input)"

    def params(self) -> dict[str, Any]:
        return {"axis": self.axis.value.data}

    @classmethod
    def properties_for(cls, params: dict[str, Any]) -> dict[str, Attribute]:
        return {"axis": IntegerAttr(params["axis"], i64)}


# ----- elementwise math and activations (autodiff/ops/elementwise.py) -------------------------


@irdl_op_definition
class SinOp(ElementwiseUnaryOp):
    name = "graph.sin"


@irdl_op_definition
class CosOp(ElementwiseUnaryOp):
    name = "graph.cos"


@irdl_op_definition
class SquareOp(ElementwiseUnaryOp):
    name = "graph.square"


@irdl_op_definition
class ReciprocalOp(ElementwiseUnaryOp):
    name = "graph.reciprocal"


@irdl_op_definition
class RsqrtOp(ElementwiseUnaryOp):
    name = "graph.rsqrt"


@irdl_op_definition
class FloorOp(ElementwiseUnaryOp):
    name = "graph.floor"


@irdl_op_definition
class ErfOp(ElementwiseUnaryOp):
    name = "graph.erf"


@irdl_op_definition
class SiluOp(ElementwiseUnaryOp):
    name = "graph.silu"


@irdl_op_definition
class MishOp(ElementwiseUnaryOp):
    name = "graph.mish"


@irdl_op_definition
class LogSigmoidOp(ElementwiseUnaryOp):
    name = "graph.log_sigmoid"


@irdl_op_definition
class SoftplusOp(ParametrizedUnaryOp):
    name = "graph.softplus"
    beta = prop_def(FloatAttr)
    threshold = prop_def(FloatAttr)


@irdl_op_definition
class GeluOp(ParametrizedUnaryOp):
    name = "graph.gelu"
    approximate = prop_def(StringAttr)


@irdl_op_definition
class LeakyReluOp(ParametrizedUnaryOp):
    name = "graph.leaky_relu"
    negative_slope = prop_def(FloatAttr)


@irdl_op_definition
class EluOp(ParametrizedUnaryOp):
    name = "graph.elu"
    alpha = prop_def(FloatAttr)


@irdl_op_definition
class ClipOp(ParametrizedUnaryOp):
    """numpy's clip with scalar bounds; an absent bound is no bound."""

    name = "graph.clip"
    a_min = opt_prop_def(FloatAttr)
    a_max = opt_prop_def(FloatAttr)


# ----- gather and scatter (autodiff/ops/indexing.py) ----------------------------------------------


class IndexingOp(GraphOp):
    """An integer-indexed op along `axis`: a float operand, int64 indices of its rank, and an
    index `mode` ("raise", the default and absent, "wrap" or "clip"); the other parameters
    come from the types.

        %0 = graph.gather %x, %i {axis = 1 : i64}
            : tensor<3x5xf32>, tensor<1x7xi64> -> tensor<3x7xf32>
    """

    data = operand_def(TensorType)
    indices = operand_def(TensorType)
    result = result_def(TensorType)
    axis = prop_def(IntegerAttr)
    mode = opt_prop_def(StringAttr)
    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = (
        "$data `,` $indices attr-dict `:` type($data) `,` type($indices) `->` type($result)"
    )

    def params(self) -> dict[str, Any]:
        return {
            "axis": self.axis.value.data,
            "mode": "raise" if self.mode is None else self.mode.data,
        }

    @classmethod
    def properties_for(cls, params: dict[str, Any]) -> dict[str, Attribute]:
        properties: dict[str, Attribute] = {"axis": IntegerAttr(params["axis"], i64)}
        if params["mode"] != "raise":
            properties["mode"] = StringAttr(params["mode"])
        return properties


@irdl_op_definition
class GatherOp(IndexingOp):
    """numpy's take_along_axis; `size` (the indexed extent) is the data's dim `axis`."""

    name = "graph.gather"

    def params(self) -> dict[str, Any]:
        shape = spec_of(self.data.type).shape
        axis = self.axis.value.data
        return {**super().params(), "size": shape[axis] if 0 <= axis < len(shape) else 0}


@irdl_op_definition
class ScatterAddOp(IndexingOp):
    """Zeros of the result type, each update added at its index along `axis`."""

    name = "graph.scatter_add"

    def params(self) -> dict[str, Any]:
        return {**super().params(), "shape": spec_of(self.result.type).shape}


# ----- pooling and normalisation (autodiff/ops/pooling.py, normalization.py) --------------------


class Pool2dOp(GraphOp):
    """A reduction over each window of an NCHW tensor, no padding (a `graph.pad` before it):
    out[n, c, oh, ow] combines in[n, c, oh * stride + kh * dilation, ow * stride + kw * dilation]
    over kh < kernel[0], kw < kernel[1].

        %y = graph.max_pool2d %x {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>,
               dilation = array<i64: 1, 1>} : tensor<1x4x9x9xf32> -> tensor<1x4x4x4xf32>
    """

    input = operand_def(TensorType)
    result = result_def(TensorType)
    kernel = prop_def(DenseArrayBase)
    stride = prop_def(DenseArrayBase)
    dilation = prop_def(DenseArrayBase)
    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"
    PAIRS: ClassVar = ("kernel", "stride", "dilation")

    def params(self) -> dict[str, Any]:
        return {name: tuple(getattr(self, name).get_values()) for name in self.PAIRS}

    @classmethod
    def properties_for(cls, params: dict[str, Any]) -> dict[str, Attribute]:
        return {name: int_array(params[name]) for name in cls.PAIRS}


@irdl_op_definition
class MaxPool2dOp(Pool2dOp):
    name = "graph.max_pool2d"


@irdl_op_definition
class SumPool2dOp(Pool2dOp):
    name = "graph.sum_pool2d"


@irdl_op_definition
class BatchNormInferenceOp(GraphOp, HasCanonicalizationPatternsInterface):
    """x normalised per channel (axis 1) with given statistics: `x * scale + shift`, where
    `scale = weight / sqrt(variance + eps)` and `shift = bias - mean * scale`; weight, bias,
    mean and variance are [C] vectors of one type.

        %y = graph.batch_norm_inference %x, %w, %b, %m, %v {eps = 1.000000e-05 : f64}
               : tensor<8x16x32x32xf32>, tensor<16xf32>
    """

    name = "graph.batch_norm_inference"
    T: ClassVar = VarConstraint("T", base(TensorType))
    C: ClassVar = VarConstraint("C", base(TensorType))
    input = operand_def(T)
    weight = operand_def(C)
    bias = operand_def(C)
    mean = operand_def(C)
    variance = operand_def(C)
    result = result_def(T)
    eps = prop_def(FloatAttr)
    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = (
        "$input `,` $weight `,` $bias `,` $mean `,` $variance attr-dict `:` type($input) `,` "
        "type($weight)"
    )

    def params(self) -> dict[str, Any]:
        return {"eps": float(self.eps.value.data)}

    @classmethod
    def properties_for(cls, params: dict[str, Any]) -> dict[str, Attribute]:
        return {"eps": FloatAttr(float(params["eps"]), f64)}

    @classmethod
    def get_canonicalization_patterns(cls) -> tuple[RewritePattern, ...]:
        from aidjit.transforms.canonicalization_patterns.graph import (
            FoldBatchNormIntoConvPattern,
        )

        return (FoldBatchNormIntoConvPattern(),)


# ----- random numbers (autodiff/ops/random.py) ----------------------------------------------------


@irdl_op_definition
class RandomBitsOp(GraphOp):
    """32 random bits per element, as int64: Threefry-2x32-20 of each element's flat index
    under the key [2]; the shape is the result type's. `stream` (absent when 0) offsets the
    counters' high word (`aidjit.random.split` draws keys from stream 1). Pure: the same key
    gives the same bits, so cse may merge two draws and a constant key folds.

        %bits = graph.random_bits %key : tensor<2xi64> -> tensor<3x5xi64>
    """

    name = "graph.random_bits"
    key = operand_def(TensorType)
    result = result_def(TensorType)
    stream = opt_prop_def(IntegerAttr)
    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$key attr-dict `:` type($key) `->` type($result)"

    def params(self) -> dict[str, Any]:
        stream = 0 if self.stream is None else self.stream.value.data
        return {"shape": spec_of(self.result.type).shape, "stream": stream}

    @classmethod
    def properties_for(cls, params: dict[str, Any]) -> dict[str, Attribute]:
        stream = params["stream"]
        return {"stream": IntegerAttr(stream, i64)} if stream else {}


# ----- registration -------------------------------------------------------------------------------


class GraphConstantMaterialization(ConstantMaterializationInterface):
    """Lets canonicalize turn folded attributes back into graph.constant ops."""

    def materialize_constant(self, value: Attribute, type: Attribute) -> Operation | None:
        if isinstance(value, DenseIntOrFPElementsAttr) and value.type == type:
            return ConstantOp(value)
        return None


GRAPH_OPS: tuple[type[GraphOp], ...] = (
    GatherOp,
    ScatterAddOp,
    NegateOp,
    AbsOp,
    SignOp,
    ExpOp,
    LogOp,
    SqrtOp,
    ReluOp,
    SigmoidOp,
    TanhOp,
    SinOp,
    CosOp,
    SquareOp,
    ReciprocalOp,
    RsqrtOp,
    FloorOp,
    ErfOp,
    SiluOp,
    MishOp,
    LogSigmoidOp,
    SoftplusOp,
    GeluOp,
    LeakyReluOp,
    EluOp,
    ClipOp,
    AddOp,
    SubtractOp,
    MultiplyOp,
    DivideOp,
    PowerOp,
    MaximumOp,
    MinimumOp,
    GreaterOp,
    GreaterEqualOp,
    EqualOp,
    NotEqualOp,
    SumOp,
    MeanOp,
    ReduceMaxOp,
    MatmulOp,
    TransposeOp,
    ReshapeOp,
    BroadcastToOp,
    SliceOp,
    OneHotOp,
    PadOp,
    ConcatOp,
    WhereOp,
    AstypeOp,
    ReduceMinOp,
    ArgmaxOp,
    ArgminOp,
    CumsumOp,
    Conv2dOp,
    MaxPool2dOp,
    SumPool2dOp,
    BatchNormInferenceOp,
    RandomBitsOp,
)

OP_FOR_PRIMITIVE: dict[str, type[GraphOp]] = {op.primitive().name: op for op in GRAPH_OPS}

Graph = Dialect(
    "graph",
    [ConstantOp, *GRAPH_OPS],
    [],
    [GraphConstantMaterialization()],
)
