"""Fixes for xDSL 0.74 bugs that aidjit's IR meets; each should go upstream.

Imported by `aidjit.context`, so every parser and printer aidjit builds has them.
"""

from __future__ import annotations

from typing import Any

from xdsl.dialects.linalg.ops import GenericOp
from xdsl.parser import Parser

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
