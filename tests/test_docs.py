"""The docs move with the code: every registered aidjit pass and pipeline step is documented."""

from pathlib import Path

import aidjit
from aidjit.passes import AIDJIT_PASSES

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_pass_is_in_the_pass_reference() -> None:
    reference = (DOCS / "passes.md").read_text()
    for name in [*AIDJIT_PASSES, *aidjit.DEFAULT_PIPELINE.split(",")]:
        assert f"`{name}`" in reference, f"docs/passes.md does not document {name}"
    assert aidjit.DEFAULT_PIPELINE in reference


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
