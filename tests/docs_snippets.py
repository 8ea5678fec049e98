"""Find and run the Python code blocks of a Markdown page, so the docs' examples are tested code.

The convention (also in tests/test_docs.py): a fenced block whose info string is `python` runs;
`python no-run` marks a block that is illustrative only (it still renders as Python on GitHub,
which reads only the first word); any other word after `python` is an error, so a misspelt
marker cannot silently skip or run a block, and so is another spelling of Python (`py`,
`python3`, `Python`), which would render alike and never run. Other languages (`sh`, `mlir`,
none) never run.

The blocks of a page run in order in one namespace, as a reader would type them into one
session: a later block may use names an earlier one defined. Each block is compiled with the
page as its file name and its own line numbers, so a traceback points at the Markdown line.

    python tests/docs_snippets.py PAGE.md

runs one page (in the current directory) and exits non-zero with the traceback if a block fails;
tests/test_docs.py runs it in a subprocess per page, in a temporary directory, with a timeout.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

RUNNABLE_LANGUAGE = "python"
NO_RUN = "no-run"
# Other spellings of Python would render alike but silently never run: they are errors instead.
PYTHON_ALIASES = frozenset({"py", "py3", "python3"})
# CommonMark: up to 3 spaces of indentation, then 3+ backticks or tildes, then the info string.
FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


class SnippetSyntaxError(ValueError):
    """A page's code fences break the convention (unknown marker, alias, unclosed fence)."""


@dataclass(frozen=True)
class Block:
    """One fenced Python block: where its code starts on the page, the code, whether it runs."""

    line: int
    source: str
    runs: bool


def _is_closing(line: str, fence: str) -> bool:
    match = FENCE.match(line)
    return bool(
        match
        and match["fence"][0] == fence[0]
        and len(match["fence"]) >= len(fence)
        and not match["info"].strip()
    )


def _python_marker(info: str, where: str) -> bool | None:
    """None for a non-Python block, else whether it runs; raises on an unknown marker."""
    words = info.split()
    language = words[0] if words else ""
    how = f"write ```python to run the block or ```python {NO_RUN} to skip it"
    if language.lower() in PYTHON_ALIASES or language.lower() == RUNNABLE_LANGUAGE != language:
        raise SnippetSyntaxError(f"{where}: ```{language} would never run; {how}")
    if language != RUNNABLE_LANGUAGE:
        return None
    markers = words[1:]
    if markers not in ([], [NO_RUN]):
        raise SnippetSyntaxError(f"{where}: unknown marker {' '.join(markers)!r}; {how}")
    return not markers


def python_blocks(text: str, page: str = "<page>") -> list[Block]:
    """The fenced Python blocks of a Markdown text, in order (runnable and `no-run` alike)."""
    lines = text.splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        index += 1
        if not opening or (opening["fence"][0] == "`" and "`" in opening["info"]):
            continue
        start = index
        while index < len(lines) and not _is_closing(lines[index], opening["fence"]):
            index += 1
        if index == len(lines):
            raise SnippetSyntaxError(f"{page}:{start}: code fence is never closed")
        runs = _python_marker(opening["info"], f"{page}:{start}")
        if runs is not None:
            # CommonMark strips the opening fence's indentation from each content line.
            indent = len(opening["indent"])
            body = [
                line[min(indent, len(line) - len(line.lstrip(" "))) :]
                for line in lines[start:index]
            ]
            blocks.append(Block(line=start + 1, source="\n".join(body) + "\n", runs=runs))
        index += 1
    return blocks


def run_page(path: Path) -> int:
    """Run a page's runnable blocks in one namespace; the number of blocks run."""
    page = str(path.resolve())
    namespace: dict[str, object] = {"__name__": "__main__"}
    blocks = [block for block in python_blocks(path.read_text(), page) if block.runs]
    for block in blocks:
        # Padding with newlines keeps the page's line numbers in tracebacks (and lets linecache
        # show the Markdown line itself).
        code = compile("\n" * (block.line - 1) + block.source, page, "exec")
        exec(code, namespace)
    return len(blocks)


if __name__ == "__main__":
    ran = run_page(Path(sys.argv[1]))
    print(f"{sys.argv[1]}: {ran} Python block(s) ran")
