"""The docs move with the code: every pass and op is documented, and every example runs.

Code examples in docs/*.md and README.md are tested code. Each page is one test case: its
```python blocks run in order in one namespace (a later block may use names an earlier one
defined), in a fresh Python process (`-W error`, as pytest) whose working directory is a
temporary directory, within PAGE_TIMEOUT_S. A traceback points at the page's own line.

The convention for blocks that must not run: the fence's info string `python no-run`
(```python no-run). Use it only for illustrative code (a fragment, a placeholder path, a
deliberate error); a block that shows how to use aidjit must run. Any other word after `python`
is an error, and so is another spelling of Python (```py). Blocks in other languages (```sh,
```mlir) never run. tests/docs_snippets.py finds and runs the blocks
(`python tests/docs_snippets.py docs/PAGE.md` runs one page by hand).

README's first command, the demo, runs too (DEMO_TIMEOUT_S).
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

import aidjit
from aidjit.passes import AIDJIT_PASSES
from tests.docs_snippets import Block, SnippetSyntaxError, python_blocks

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
RUNNER = Path(__file__).resolve().with_name("docs_snippets.py")
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
# A page compiles a few small functions: seconds with a cold kernel cache on a busy machine.
PAGE_TIMEOUT_S = 60
DEMO_TIMEOUT_S = 120


def _without_options(pipeline: str) -> str:
    """A pipeline's pass names: the options of the schedules depend on the CPU detected."""
    return re.sub(r"\{[^}]*\}", "", pipeline)


def test_every_pass_is_in_the_pass_reference() -> None:
    reference = (DOCS / "passes.md").read_text()
    default = _without_options(aidjit.DEFAULT_PIPELINE)
    for name in [*AIDJIT_PASSES, *default.split(",")]:
        assert f"`{name}`" in reference, f"docs/passes.md does not document {name}"
    assert default in _without_options(reference)


def test_every_pass_docstring_has_a_summary_line() -> None:
    for factory in AIDJIT_PASSES.values():
        pass_class = factory()
        summary = (pass_class.__doc__ or "").strip().splitlines()
        assert summary and summary[0].endswith("."), pass_class.name
        assert summary[0] in (DOCS / "passes.md").read_text()


def test_every_op_is_in_the_dialect_reference() -> None:
    from aidjit.dialects.graph import GRAPH_OPS

    reference = (DOCS / "dialect.md").read_text()
    for op in GRAPH_OPS:
        short = op.name.removeprefix("graph.")
        assert short in reference, f"docs/dialect.md does not mention {op.name}"


def run_page(page: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a page's blocks as tests/docs_snippets.py does, in a new process in `cwd`."""
    return subprocess.run(
        [sys.executable, "-W", "error", str(RUNNER), str(page)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=PAGE_TIMEOUT_S,
        check=False,
    )


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_the_python_blocks_of_the_page_run(page: Path, tmp_path: Path) -> None:
    if not any(block.runs for block in python_blocks(page.read_text(), str(page))):
        return
    result = run_page(page, tmp_path)
    assert result.returncode == 0, f"{page.relative_to(ROOT)}:\n{result.stderr}"


PAGE = """# title

```python
x = 1
```

```sh
exit 1
```

```python no-run
raise RuntimeError("illustrative only")
```

- in a list:

  ```python
  y = x + 1
  ```

~~~python
z = y * 10
~~~
"""


def test_blocks_are_found_with_their_lines_and_markers() -> None:
    assert python_blocks(PAGE) == [
        Block(line=4, source="x = 1\n", runs=True),
        Block(line=12, source='raise RuntimeError("illustrative only")\n', runs=False),
        Block(line=18, source="y = x + 1\n", runs=True),
        Block(line=22, source="z = y * 10\n", runs=True),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("```python norun\nx\n```\n", "unknown marker 'norun'"),
        ("```python\nx = 1\n", "never closed"),
        ("```py\nx = 1\n```\n", "```py would never run"),
        ("```Python\nx = 1\n```\n", "```Python would never run"),
    ],
)
def test_a_broken_convention_is_an_error_naming_the_line(text: str, message: str) -> None:
    with pytest.raises(SnippetSyntaxError, match=message) as error:
        python_blocks(text, "page.md")
    assert "page.md:1" in str(error.value)


def test_blocks_share_a_namespace_and_a_failure_names_the_page_line(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(PAGE + "\n```python\nassert z == 21, 'wrong z'\n```\n")
    result = run_page(page, tmp_path)
    assert result.returncode != 0
    assert f'File "{page}", line 26' in result.stderr
    assert "assert z == 21, 'wrong z'" in result.stderr  # the Markdown line itself
    assert "AssertionError: wrong z" in result.stderr
    page.write_text(PAGE + "\n```python\nassert z == 20\nopen('made-here', 'w').close()\n```\n")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    assert run_page(page, cwd).returncode == 0
    assert (cwd / "made-here").exists()


def test_the_readme_demo_checks_its_results_and_pins_numpy_threads() -> None:
    result = subprocess.run(
        [sys.executable, "-W", "error", str(ROOT / "examples" / "demo.py")],
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "threads: numpy BLAS 1," in result.stdout
    for column in ("numpy", "tape", "compiled", "vs numpy", "vs tape", "check"):
        assert f"  {column} " in result.stdout
    rows = [line for line in result.stdout.splitlines() if line.startswith(("W2a ", "W2b ", "W3 "))]
    assert len(rows) == 3, result.stdout
    assert all("ok, max |compiled - tape|" in row for row in rows), rows
