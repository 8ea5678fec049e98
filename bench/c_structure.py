"""The structure of emitted C: loop nests, heap allocations and passes over each argument.

The benchmark reports, for the compiled function of each workload, how many loop nests its C
runs, how many heap allocations it makes and how many loop nests read each argument: the
figures issue 6 sets targets on (W1 one loop nest and no allocation; W6 reads its input at most
twice). They are read from the C text (`CompiledFunction.ir("c")`), not from the IR, so they
describe what gcc is given whatever the pipeline above the emitter looks like.

The parser is small and only assumes C's block structure, not the emitter's exact shape:

1. comments, preprocessor lines and string/char literals are removed;
2. the text is split into a tree of blocks (`header { ... }`) and statements (ending in `;`),
   tracking parentheses so a `for (...;...;...)` header stays whole; a function is a top-level
   block whose header ends with `)`, so array initialisers (`= {...}`) are not mistaken for one;
3. a loop nest is an outermost `for`/`while` loop of a function body (a loop inside an `if` or a
   bare `{}` scope counts as well; a loop inside a loop does not);
4. a heap allocation is a call site of malloc, calloc, realloc, aligned_alloc or posix_memalign
   anywhere in the body, counted once even inside a loop (the emitter allocates outside loops);
5. a nest reads a parameter when any of its statements or loop headers names it, or names a
   pointer declared from it (`float *v0 = (float *)(arg4 + 64);` makes `v0` an alias of `arg4`,
   so a workspace carved into buffers is followed), other than as the target of a plain store
   (`arg3[i0] = v;` writes `arg3` but reads `i0` and `v`). Passing a parameter to a call inside
   a nest counts as reading it; a call outside any loop is not a loop nest and is not counted.

Parameters are named from the prototype (`arg0`, `arg1`, ..., or any other name, e.g. a
trailing workspace pointer), so no fixed number of inputs or outputs is assumed. A parameter is
read-only when `const` qualifies what its pointer points to (the emitter declares every argument
the body never stores to `const`): those are the function's inputs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

_NOISE = re.compile(
    r"""
      "(?:\\.|[^"\\\n])*"           # string literal
    | '(?:\\.|[^'\\\n])*'           # char literal
    | /\*.*?\*/                     # block comment
    | //[^\n]*                      # line comment
    | ^[ \t]*\#(?:[^\n]*\\\n)*[^\n]*  # preprocessor line, with its continuations
    """,
    re.DOTALL | re.MULTILINE | re.VERBOSE,
)
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")
_LOOP = re.compile(r"(for|while)\s*\(")
_ALLOCATION = re.compile(r"\b(malloc|calloc|realloc|aligned_alloc|posix_memalign)\s*\(")
# `name = ...` or `name[index] = ...` (not `==`, not a compound assignment, which also reads).
_PLAIN_STORE = re.compile(r"(?P<target>[A-Za-z_]\w*)\s*(?P<index>\[.*\])?\s*=(?!=)(?P<value>.*)")
# `<type> *[qualifiers] name = init`: a pointer declaration, whose init may make it an alias.
_POINTER_DECLARATION = re.compile(
    r"[^=]*\*\s*(?:(?:restrict|const|volatile)\s+)*(?P<name>[A-Za-z_]\w*)\s*=(?!=)(?P<init>.*)"
)


@dataclass
class Block:
    """`header { items }`; the root of a file has an empty header."""

    header: str
    items: list[Block | str] = field(default_factory=list)

    def texts(self) -> Iterator[str]:
        """Every header and statement inside this block, its own header first, in source order."""
        yield self.header
        for item in self.items:
            if isinstance(item, Block):
                yield from item.texts()
            else:
                yield item


@dataclass(frozen=True)
class Parameter:
    name: str
    read_only: bool


@dataclass(frozen=True)
class FunctionStructure:
    """What one C function does, structurally: see the module docstring for each figure."""

    name: str
    exported: bool
    parameters: tuple[Parameter, ...]
    loop_nests: int
    heap_allocations: int
    nests_reading: dict[str, int]

    @property
    def input_passes(self) -> list[int]:
        """Loop nests reading each read-only (input) parameter, in parameter order."""
        return [self.nests_reading[p.name] for p in self.parameters if p.read_only]

    def as_dict(self) -> dict[str, Any]:
        return {
            "function": self.name,
            "loop_nests": self.loop_nests,
            "heap_allocations": self.heap_allocations,
            "nests_reading": self.nests_reading,
            "read_only_parameters": [p.name for p in self.parameters if p.read_only],
        }


def strip_noise(source: str) -> str:
    """The source without comments, preprocessor lines and the contents of literals."""

    def replace(match: re.Match[str]) -> str:
        text = match.group()
        return text[0] * 2 if text[0] in "\"'" else " "

    return _NOISE.sub(replace, source)


def _clean(text: list[str]) -> str:
    return " ".join("".join(text).split())


def parse_blocks(source: str) -> Block:
    """The block/statement tree of C source (comments and preprocessor lines removed)."""
    root = Block("")
    stack = [root]
    pending: list[str] = []
    parens = 0
    for char in strip_noise(source):
        if char in "([":
            parens += 1
        elif char in ")]":
            parens -= 1
        if parens or char not in "{};":
            pending.append(char)
            continue
        text = _clean(pending)
        pending = []
        if char == "{":
            block = Block(text)
            stack[-1].items.append(block)
            stack.append(block)
            continue
        if text:
            stack[-1].items.append(text)
        if char == "}":
            if len(stack) == 1:
                raise ValueError("unbalanced C source: '}' without a matching '{'")
            stack.pop()
    if len(stack) != 1 or parens:
        raise ValueError("unbalanced C source: unclosed '{' or '('")
    return root


def _split_parameters(text: str) -> list[str]:
    parts, depth, current = [], 0, []
    for char in text:
        depth += char in "(["
        depth -= char in ")]"
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [part.strip() for part in parts if part.strip() not in ("", "void")]


def _parameter(text: str) -> Parameter:
    names = _IDENTIFIER.findall(text)
    if not names:
        raise ValueError(f"cannot name the C parameter {text!r}")
    pointee = text.split("*", 1)[0]
    return Parameter(names[-1], "*" not in text or "const" in pointee.split())


def _is_loop(item: Block | str) -> bool:
    return _LOOP.match(item.header if isinstance(item, Block) else item) is not None


def _segments(block: Block) -> Iterator[tuple[bool, Block | str]]:
    """(is a loop nest, item) for the body in source order, entering blocks that are not loops."""
    for item in block.items:
        if _is_loop(item):
            yield True, item
        elif isinstance(item, Block):
            yield False, item.header
            yield from _segments(item)
        else:
            yield False, item


def _texts(item: Block | str) -> Iterator[str]:
    if isinstance(item, Block):
        yield from item.texts()
    else:
        yield item


def _function_header(header: str) -> tuple[str, str, str] | None:
    """(what precedes the name, name, parameter text) of `... name(parameters)`, else None.

    The parameter list is the parenthesised group that ends the header, so attributes before
    the name (`__attribute__((optimize("...")))`) do not confuse it.
    """
    if not header.endswith(")"):
        return None
    depth = 0
    for position in range(len(header) - 1, -1, -1):
        depth += header[position] == ")"
        depth -= header[position] == "("
        if depth == 0:
            break
    name = re.search(r"([A-Za-z_]\w*)\s*$", header[:position])
    if name is None:
        return None
    return header[: name.start()], name.group(1), header[position + 1 : -1]


class _ReadTracker:
    """Which parameters a statement reads, following pointers declared from parameters."""

    def __init__(self, parameters: tuple[Parameter, ...]) -> None:
        self.sources: dict[str, frozenset[str]] = {p.name: frozenset({p.name}) for p in parameters}

    def named(self, text: str) -> set[str]:
        """The parameters that the identifiers of `text` stand for."""
        found: set[str] = set()
        for identifier in _IDENTIFIER.findall(text):
            found |= self.sources.get(identifier, frozenset())
        return found

    def reads(self, statement: str) -> set[str]:
        declaration = _POINTER_DECLARATION.fullmatch(statement)
        if declaration is not None:
            self.sources[declaration["name"]] = frozenset(self.named(declaration["init"]))
        store = _PLAIN_STORE.fullmatch(statement)
        if store is not None:
            return self.named(f"{store['index'] or ''} {store['value']}")
        return self.named(statement)


_CALL = re.compile(r"([A-Za-z_]\w*)\((.*)\);?")


def _structure(
    block: Block,
    name: str,
    prefix: str,
    parameters: str,
    callees: dict[str, FunctionStructure],
) -> FunctionStructure:
    """A call of a function defined earlier in the source counts as its loop nests (the
    emitter turns each loop nest over the workspace into a static function called once)."""
    params = tuple(_parameter(text) for text in _split_parameters(parameters))
    tracker = _ReadTracker(params)
    nests_reading = dict.fromkeys((p.name for p in params), 0)
    nests = 0
    allocations = sum(len(_ALLOCATION.findall(text)) for text in block.texts())
    for is_nest, item in _segments(block):
        read: set[str] = set()
        for text in _texts(item):  # outside a nest only to see declarations of aliases
            read |= tracker.reads(text)
            call = _CALL.fullmatch(text) if not is_nest else None
            callee = callees.get(call.group(1)) if call else None
            if callee is None or call is None:
                continue
            nests += callee.loop_nests
            allocations += callee.heap_allocations
            arguments = _split_parameters(call.group(2))
            for parameter, argument in zip(callee.parameters, arguments, strict=False):
                for outer in tracker.named(argument):
                    nests_reading[outer] += callee.nests_reading[parameter.name]
        if not is_nest:
            continue
        nests += 1
        for parameter in read:
            nests_reading[parameter] += 1
    exported = "static" not in prefix.split()
    return FunctionStructure(name, exported, params, nests, allocations, nests_reading)


def functions(source: str) -> dict[str, FunctionStructure]:
    """The structure of every function defined in `source`, by name, in source order."""
    found = {}
    for item in parse_blocks(source).items:
        header = _function_header(item.header) if isinstance(item, Block) else None
        if header is None:
            continue
        prefix, name, parameters = header
        found[name] = _structure(item, name, prefix, parameters, found)
    return found


def function_structure(source: str, name: str) -> FunctionStructure:
    """The structure of the function `name`, or of the only exported function of `source`.

    The fallback keeps the benchmark working if the emitter's naming of the entry point changes.
    """
    defined = functions(source)
    if name in defined:
        return defined[name]
    exported = [f for f in defined.values() if f.exported]
    if len(exported) == 1:
        return exported[0]
    names = ", ".join(defined) or "none"
    raise ValueError(f"no C function {name!r} in the source (functions defined: {names})")
