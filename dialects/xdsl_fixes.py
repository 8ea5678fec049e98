"""Fixes for xDSL 0.74 bugs that aidjit's IR meets; each should go upstream.

Imported by `aidjit.context`, so every parser and printer aidjit builds has them.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, ClassVar

from xdsl.dialects import arith, vector
from xdsl.dialects.arith import floatingPointLike, signlessIntegerLike
from xdsl.dialects.builtin import IntegerAttr, VectorType, i1
from xdsl.dialects.linalg.ops import GenericOp
from xdsl.ir import Attribute, Dialect, Operation, SSAValue
from xdsl.irdl import (
    AnyAttr,
    AnyOf,
    EqAttrConstraint,
    IRDLOperation,
    VarConstraint,
    irdl_op_definition,
    operand_def,
    prop_def,
    result_def,
    traits_def,
)
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

_parse_generic = GenericOp.parse.__func__  # type: ignore[attr-defined]


class _ParenthesisedResults:
    """A parser proxy for `GenericOp.parse`: xDSL 0.74 prints a multi-result generic as
    `} -> (t1, t2)` but parses the result types only without parentheses, so it cannot read
    back its own output. After the body region, a parenthesised type list is accepted too."""

    def __init__(self, parser: Parser) -> None:
        self._parser = parser
        self._after_body = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._parser, name)

    def parse_region(self, *args: Any, **kwargs: Any) -> Any:
        region = self._parser.parse_region(*args, **kwargs)
        self._after_body = True
        return region

    def parse_comma_separated_list(self, delimiter: Any, parse: Any, *args: Any) -> Any:
        if self._after_body and delimiter is Parser.Delimiter.NONE:
            if self._parser.parse_optional_punctuation("(") is not None:
                types = self._parser.parse_comma_separated_list(Parser.Delimiter.NONE, parse)
                self._parser.parse_punctuation(")")
                return types
        return self._parser.parse_comma_separated_list(delimiter, parse, *args)


def _parse_generic_with_parenthesised_results(cls: type[GenericOp], parser: Parser) -> GenericOp:
    return _parse_generic(cls, _ParenthesisedResults(parser))


GenericOp.parse = classmethod(_parse_generic_with_parenthesised_results)  # type: ignore[method-assign,assignment]


# ----- comparisons and selects on vectors ------------------------------------------------------
#
# xDSL 0.74 types `arith.cmpf`/`arith.cmpi` results as `i1` whatever the operands, and
# `arith.select`'s condition as `i1` only, where MLIR allows vectors of them (`vector<16xi1>`):
# the vector passes need lane-wise comparisons and blends. These subclasses keep the upstream
# names and syntax (a select with a vector condition prints both types, as MLIR does), so
# `isinstance(op, arith.CmpfOp)` still holds and mlir-opt reads the output; `make_context`
# registers them in place of xDSL's.


def i1_like(type_: Attribute) -> Attribute:
    """`i1`, or a vector of `i1` of `type_`'s shape: what comparing two `type_` values gives."""
    if isinstance(type_, VectorType):
        return VectorType(i1, type_.get_shape())
    return i1


_BOOL_LIKE = AnyOf([EqAttrConstraint(i1), VectorType.constr(EqAttrConstraint(i1))])


def _predicate(arg: int | str, names: Sequence[str]) -> int:
    """A predicate's number: its index in MLIR's list of mnemonics."""
    if isinstance(arg, int):
        return arg
    if arg not in names:
        raise VerifyException(f"Unknown comparison mnemonic: {arg}")
    return list(names).index(arg)


def _init_comparison(
    op: IRDLOperation,
    operands: tuple[SSAValue | Operation, SSAValue | Operation],
    predicate: int,
    **properties: Attribute,
) -> None:
    """A comparison of two same-typed operands into `i1` or a vector of `i1` of their shape."""
    lhs, rhs = (SSAValue.get(operand) for operand in operands)
    arith.CmpfOp._validate_operand_types(lhs, rhs)
    IRDLOperation.__init__(
        op,
        operands=[lhs, rhs],
        result_types=[i1_like(lhs.type)],
        properties={"predicate": IntegerAttr(predicate, 64), **properties},
    )


@irdl_op_definition
class CmpfOp(arith.CmpfOp):
    name = "arith.cmpf"
    predicate = prop_def(IntegerAttr)
    lhs = operand_def(floatingPointLike)
    rhs = operand_def(floatingPointLike)
    fastmath = prop_def(arith.FastMathFlagsAttr, default_value=arith.FastMathFlagsAttr("none"))
    result = result_def(_BOOL_LIKE)
    traits = traits_def(Pure())

    def verify_(self) -> None:
        """The constraints above only: the inherited check is xDSL's, which wants an `i1`."""

    def __init__(
        self,
        operand1: SSAValue | Operation,
        operand2: SSAValue | Operation,
        arg: int | str,
        fastmath: arith.FastMathFlagsAttr | None = None,
    ) -> None:
        _init_comparison(
            self,
            (operand1, operand2),
            _predicate(arg, arith.CMPF_COMPARISON_OPERATIONS),
            fastmath=fastmath or arith.FastMathFlagsAttr("none"),
        )


@irdl_op_definition
class CmpiOp(arith.CmpiOp):
    name = "arith.cmpi"
    predicate = prop_def(IntegerAttr)
    lhs = operand_def(signlessIntegerLike)
    rhs = operand_def(signlessIntegerLike)
    result = result_def(_BOOL_LIKE)
    traits = traits_def(Pure())

    def verify_(self) -> None:
        """The constraints above only: the inherited check is xDSL's, which wants an `i1`."""

    def __init__(
        self, operand1: SSAValue | Operation, operand2: SSAValue | Operation, arg: int | str
    ) -> None:
        _init_comparison(
            self, (operand1, operand2), _predicate(arg, arith.CMPI_COMPARISON_OPERATIONS)
        )


@irdl_op_definition
class SelectOp(arith.SelectOp):
    name = "arith.select"
    _T: ClassVar = VarConstraint("_T", AnyAttr())
    cond = operand_def(_BOOL_LIKE)
    lhs = operand_def(_T)
    rhs = operand_def(_T)
    result = result_def(_T)
    traits = traits_def(Pure())
    assembly_format = None

    def verify_(self) -> None:
        """The constraints above only: the inherited check is xDSL's, which wants an `i1`."""

    @classmethod
    def parse(cls, parser: Parser) -> SelectOp:
        operands = [parser.parse_unresolved_operand()]
        for _ in range(2):
            parser.parse_punctuation(",")
            operands.append(parser.parse_unresolved_operand())
        attributes = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        types = parser.parse_comma_separated_list(Parser.Delimiter.NONE, parser.parse_type)
        condition_type, result_type = (i1, types[0]) if len(types) == 1 else types
        cond, lhs, rhs = parser.resolve_operands(
            operands, [condition_type, result_type, result_type], parser.pos
        )
        op = cls(cond, lhs, rhs)
        op.attributes.update(attributes)
        return op

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_list((self.cond, self.lhs, self.rhs), printer.print_operand)
        printer.print_op_attributes(self.attributes)
        printer.print_string(" : ")
        if isinstance(self.cond.type, VectorType):
            printer.print_attribute(self.cond.type)
            printer.print_string(", ")
        printer.print_attribute(self.result.type)


# xDSL 0.74 also types sitofp's operand and fptosi's result as scalar integers, where MLIR
# takes integer-like ones (vectors too): expand-math's vector log converts exponents to floats.
# The syntax is MLIR's (and xDSL's), `%r = arith.sitofp %x : vector<16xi32> to vector<16xf32>`;
# the parser xDSL generated for its own class would build its own class, hence these.


def _parse_cast(cls: type[IRDLOperation], parser: Parser) -> IRDLOperation:
    operand = parser.parse_unresolved_operand()
    attributes = parser.parse_optional_attr_dict()
    parser.parse_punctuation(":")
    source = parser.parse_type()
    parser.parse_keyword("to")
    target = parser.parse_type()
    (value,) = parser.resolve_operands([operand], [source], parser.pos)
    op = cls.create(operands=[value], result_types=[target])
    op.attributes.update(attributes)
    return op


def _print_cast(op: IRDLOperation, printer: Printer) -> None:
    printer.print_string(" ")
    printer.print_operand(op.operands[0])
    printer.print_op_attributes(op.attributes)
    printer.print_string(" : ")
    printer.print_attribute(op.operands[0].type)
    printer.print_string(" to ")
    printer.print_attribute(op.results[0].type)


def _vector_cast(base: type[IRDLOperation], source: Any, target: Any) -> type[IRDLOperation]:
    """xDSL's cast op `base`, with an operand and result that may be vectors."""

    @irdl_op_definition
    class VectorCast(base):  # type: ignore[valid-type,misc]
        name = base.name
        input = operand_def(source)
        result = result_def(target)
        assembly_format = None
        parse = classmethod(_parse_cast)  # type: ignore[assignment]
        print = _print_cast  # type: ignore[assignment]

        def verify_(self) -> None:
            """The constraints above only: the inherited check is xDSL's, which wants scalars."""

    VectorCast.__name__ = VectorCast.__qualname__ = base.__name__
    return VectorCast


SIToFPOp = _vector_cast(arith.SIToFPOp, signlessIntegerLike, floatingPointLike)
FPToSIOp = _vector_cast(arith.FPToSIOp, floatingPointLike, signlessIntegerLike)


VECTOR_AWARE_OPS: tuple[type[IRDLOperation], ...] = (CmpfOp, CmpiOp, SelectOp, SIToFPOp, FPToSIOp)
"""Each subclasses the xDSL op of its name (tables keyed by op class list both)."""
_BY_NAME = {op.name: op for op in VECTOR_AWARE_OPS}
ARITH = Dialect(
    "arith",
    [_BY_NAME.get(op.name, op) for op in arith.Arith.operations],
    list(arith.Arith.attributes),
)
"""xDSL's arith dialect with the vector-aware comparisons, select and conversions."""


def make_reduction(
    kind: str, source: SSAValue | Operation, acc: SSAValue | Operation | None = None
) -> vector.ReductionOp:
    """`vector.reduction <kind>, %source[, %acc]`: xDSL 0.74's constructor gives the result the
    vector's type, not its element type, which the op's own verifier then rejects."""
    source = SSAValue.get(source)
    assert isinstance(source.type, VectorType)
    return vector.ReductionOp.create(
        operands=[source] if acc is None else [source, SSAValue.get(acc)],
        result_types=[source.type.get_element_type()],
        properties={
            "kind": vector.CombiningKindAttr(vector.CombiningKindFlag(kind)),
            "fastmath": arith.FastMathFlagsAttr("none"),
        },
    )


# ----- building IR from several threads ---------------------------------------------------------
#
# xDSL 0.74's ImplicitBuilder patches `Operation.__post_init__` process-wide when a thread
# enters its first builder and restores the saved one when it leaves; two threads building at
# once (a background compile next to another) leave it patched twice, so an op built under a
# builder is inserted twice ("Can't add to a block an operation already attached to a block").
# aidjit therefore builds and transforms IR under this one lock: passes hold the GIL anyway.
IR_LOCK = threading.RLock()
