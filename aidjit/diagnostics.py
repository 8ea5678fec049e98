"""MLIR-style diagnostics for `aidjit-opt`: `file:line:col: error: message` at the op at fault.

xDSL 0.74 gives us half of this. Its lexer keeps a `Span` for every token and a `ParseError`
carries one, so parse errors already know where they are; we reuse both. What it lacks:

- ops do not remember where they were parsed (`Operation.location` is only set by an explicit
  `loc(...)`), so :class:`LocatingParser` stamps each op with a `FileLineColLoc` at its first
  token, the location `mlir-opt` gives an op. A location is an attribute of the op, so it survives
  cloning and is printed by `--print-debuginfo`, as in MLIR;
- a `VerifyException` does not say which op failed (xDSL prints the whole module in generic form
  with a marker instead), so :func:`find_verify_error` finds the op after the fact;
- "expected X" errors point at the next token, often on the next line; :class:`LocatingParser`
  moves them to the end of the previous token as MLIR's `emitWrongTokenError` does;
- `--verify-diagnostics` in xDSL only prints the error; here it checks MLIR's
  `// expected-error {{...}}` annotations (:func:`parse_expectations`, :func:`check_expectations`).

An op created by a pass has no location of its own: it is reported at its nearest ancestor that
has one, or at `<file>:0:0`. A pass that knows which op an error is about records it with
:func:`aidjit.errors.blame`, and the error is then reported at that op.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass
from io import StringIO
from typing import NoReturn

from xdsl.context import Context
from xdsl.dialects.builtin import FileLineColLoc, IntAttr, ModuleOp, StringAttr, UnknownLoc
from xdsl.ir import Operation, SSAValue
from xdsl.irdl import AttributeInvT
from xdsl.parser import Parser, UnresolvedOperand
from xdsl.printer import Printer
from xdsl.traits import IsolatedFromAbove
from xdsl.utils.exceptions import MultipleSpansParseError, ParseError, VerifyException
from xdsl.utils.lexer import Location, Span

from aidjit.errors import blamed


def blamed_op(error: BaseException) -> Operation | None:
    """The op :func:`aidjit.errors.blame` recorded on `error`, if any."""
    op = blamed(error)
    return op if isinstance(op, Operation) else None


@dataclass(frozen=True)
class Diagnostic:
    """One message at one place, rendered the way `mlir-opt` prints it."""

    location: Location
    message: str
    severity: str = "error"
    details: str = ""
    """Lines printed below the first one: the source line with a caret, notes."""

    def __str__(self) -> str:
        head = f"{self.location}: {self.severity}: {self.message}"
        return f"{head}\n{self.details}" if self.details else head


class SourceText:
    """One input chunk: its text, its name and the line it starts on in the whole file."""

    def __init__(self, text: str, name: str, first_line: int = 1) -> None:
        self.text = text
        self.name = name
        self.line_offset = first_line - 1
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def location(self, position: int) -> Location:
        """File, line and column (1-based, lines counted in the whole file) of `position`."""
        index = bisect.bisect_right(self._line_starts, position) - 1
        return Location(
            self.name, index + 1 + self.line_offset, position - self._line_starts[index] + 1
        )

    def line_with_caret(self, line: int, column: int) -> str:
        """The source line `line` (whole-file numbering) and a caret under `column`, or ''."""
        index = line - 1 - self.line_offset
        if not 0 <= index < len(self._line_starts):
            return ""
        start = self._line_starts[index]
        end = self.text.find("\n", start)
        source_line = self.text[start : end if end >= 0 else len(self.text)].rstrip("\r")
        return f"{source_line}\n{' ' * (column - 1)}^"


class LocatingParser(Parser):
    """xDSL's parser, stamping every op with its source location and placing errors as MLIR does."""

    def __init__(self, ctx: Context, source: SourceText) -> None:
        super().__init__(ctx, source.text, source.name)
        self.source = source
        self._first_uses: dict[str, Span] = {}

    def parse_module(self, allow_implicit_module: bool = True) -> ModuleOp:
        try:
            return super().parse_module(allow_implicit_module)
        except ParseError as error:
            # xDSL reports values never defined at the end of the input, all at once (its only
            # "values used but not defined" error); MLIR at the first use of the first one.
            pending = [n for n in self._first_uses if n in self.forward_ssa_references]
            if not error.msg.startswith("values used but not defined") or not pending:
                raise
            name = min(pending, key=lambda n: self._first_uses[n].start)
            raise ParseError(self._first_uses[name], f"use of undefined value '%{name}'") from None

    def resolve_operand(
        self, operand: UnresolvedOperand, type: AttributeInvT
    ) -> SSAValue[AttributeInvT]:
        if operand.operand_name not in self.ssa_values:
            self._first_uses.setdefault(operand.operand_name, operand.span)
        return super().resolve_operand(operand, type)

    def parse_operation(self) -> Operation:
        start = self._current_token.span.start
        op = super().parse_operation()
        if isinstance(op.location, UnknownLoc):  # an explicit loc(...) wins
            file, line, column = self.source.location(start)
            op.location = FileLineColLoc(StringAttr(file), IntAttr(line), IntAttr(column))
        return op

    def _get_op_by_name(self, name: str) -> type[Operation]:
        # xDSL reports an unknown op at the token after its name (its first operand); the name
        # has just been consumed, so it is the last occurrence before the current token.
        if self.ctx.get_optional_op(name, dialect_stack=self._parser_state.dialect_stack) is None:
            at = self.source.text.rfind(name, 0, self.pos)
            self.raise_error(
                f"operation '{name}' is not registered", Span(at, at + len(name), self.lexer.input)
            )
        return super()._get_op_by_name(name)

    def raise_error(
        self,
        msg: str,
        at_position: Span | int | None = None,
        end_position: int | None = None,
    ) -> NoReturn:
        current = self._current_token.span
        at_current = at_position is None or (
            isinstance(at_position, Span)
            and (at_position.start, at_position.end) == (current.start, current.end)
        )
        if at_current and end_position is None:
            at_position = _after_previous_token(self.source.text, current.start)
        super().raise_error(msg, at_position, end_position)


def _after_previous_token(text: str, position: int) -> int:
    """Where MLIR reports "expected X" found at `position`: just after the text before it.

    A port of MLIR's `Parser::emitWrongTokenError`: skip back over blanks, blank lines and `//`
    comments, so a missing `>` at the end of line 2 is reported there, not at line 3's first token.
    """
    before = text[:position]
    while True:
        before = before.rstrip(" \t")
        if not before:
            return position
        if before[-1] not in "\r\n":
            return len(before)
        before = before[:-1]
        line_start = max(before.rfind("\n"), before.rfind("\r")) + 1
        comment = before.find("//", line_start)
        if comment >= 0:
            before = before[:comment]


def parse_error_diagnostic(error: ParseError, source: SourceText) -> Diagnostic:
    """A parse error at its span, with the source line and a caret, as `mlir-opt` prints it."""
    notes = []
    if isinstance(error, MultipleSpansParseError):
        for span, message in error.refs:
            where = source.location(span.start)
            caret = source.line_with_caret(where.line, where.col)
            notes.append(f"{where}: note: {message or ''}\n{caret}")
    return _at(source.location(error.span.start), error.msg, source, notes)


def _at(where: Location, message: str, source: SourceText, notes: Sequence[str] = ()) -> Diagnostic:
    details = "\n".join(filter(None, [source.line_with_caret(where.line, where.col), *notes]))
    return Diagnostic(where, message, details=details)


def op_location(op: Operation | None, file: str) -> Location:
    """The location of `op`, else of its nearest ancestor that has one, else `<file>:0:0`."""
    while op is not None:
        if isinstance(op.location, FileLineColLoc):
            loc = op.location
            return Location(loc.filename.data, loc.line.data, loc.column.data)
        op = op.parent_op()
    return Location(file, 0, 0)


def op_diagnostic(op: Operation | None, message: str, source: SourceText) -> Diagnostic:
    """An error at `op`, followed by the op itself (not the whole module) as it is now."""
    where = op_location(op, source.name)
    notes = [] if op is None else [f"{where}: note: see current operation: {_print_op(op)}"]
    return _at(where, message, source, notes)


def _print_op(op: Operation) -> str:
    """The op in its custom form, or in the generic form if it does not verify.

    MLIR's rule: a custom printer may rely on the op's invariants and print something misleading
    (a `graph.constant` whose value and result types differ shows only one of them) or crash.
    """
    try:
        op.verify(verify_nested_ops=False)
        return _print_in_scope(op, generic=False)
    except Exception:  # an invalid op, or a custom printer that chokes on one
        return _print_in_scope(op, generic=True)


def _print_in_scope(op: Operation, *, generic: bool) -> str:
    """`op` alone, its values named as in its enclosing function (MLIR's `%1 = ... %0`)."""
    scope = op
    while not scope.has_trait(IsolatedFromAbove) and (parent := scope.parent_op()) is not None:
        scope = parent
    printer = Printer(stream=StringIO(), print_generic_format=generic)
    if scope is not op:
        printer.print_op(scope)  # only to number the values in scope; the text is dropped
    printer.stream = StringIO()
    printer.print_op(op)
    return printer.stream.getvalue()


def find_verify_error(root: Operation, error: VerifyException) -> tuple[Operation | None, str]:
    """Which op made `root.verify()` raise `error`, and the message without xDSL's decorations.

    xDSL's exception does not carry the op, so each op is verified alone, outer ops first as in
    MLIR, until one fails. Only called after a failure: verification itself stays xDSL's.
    """
    ops = list(root.walk())
    for op in ops:
        try:
            op.verify(verify_nested_ops=False)
        except VerifyException as op_error:
            return op, str(op_error)
    # Every op verifies alone: a block-level check failed (an empty block that needs a
    # terminator). Blame the innermost op whose regions fail: reversed pre-order, inner first.
    for op in reversed(ops):
        for region in op.regions:
            try:
                region.verify()
            except VerifyException as region_error:
                return op, str(region_error)
    return None, str(error)


# ----- --verify-diagnostics ----------------------------------------------------------------------

_EXPECTED = re.compile(
    r"expected-(?P<severity>error|warning|note|remark)"
    r" *(?:@(?P<offset>[+-]\d+|above|below|unknown))? *\{\{(?P<text>.*)\}\}"
)
_NAMED_OFFSETS = {"above": -1, "below": 1}


@dataclass(frozen=True)
class Expectation:
    """An `// expected-error@+1 {{text}}` annotation: a diagnostic that must be produced."""

    location: Location
    """Where the annotation is written."""
    line: int
    """The line the diagnostic must be on (0: `@unknown`)."""
    severity: str
    text: str

    def matches(self, diagnostic: Diagnostic) -> bool:
        return (
            diagnostic.severity == self.severity
            and diagnostic.location.line == self.line
            and self.text in diagnostic.message
        )


def parse_expectations(source: SourceText) -> list[Expectation]:
    """Every `expected-<severity>[@offset] {{text}}` annotation in `source`."""
    expectations = []
    for match in _EXPECTED.finditer(source.text):
        where = source.location(match.start())
        offset = match["offset"]
        if offset == "unknown":
            line = 0
        else:
            line = where.line + (_NAMED_OFFSETS.get(offset) or int(offset or 0))
        expectations.append(Expectation(where, line, match["severity"], match["text"]))
    return expectations


def check_expectations(
    expectations: Sequence[Expectation], produced: Sequence[Diagnostic]
) -> list[Diagnostic]:
    """The mismatches, as errors: each unexpected diagnostic, then each expectation unmet."""
    unmet = list(expectations)
    problems = []
    for diagnostic in produced:
        match = next((e for e in unmet if e.matches(diagnostic)), None)
        if match is None:
            message = f"unexpected {diagnostic.severity}: {diagnostic.message}"
            problems.append(Diagnostic(diagnostic.location, message, details=diagnostic.details))
        else:
            unmet.remove(match)
    for expectation in unmet:
        message = f'expected {expectation.severity} "{expectation.text}" was not produced'
        problems.append(Diagnostic(expectation.location, message))
    return problems
