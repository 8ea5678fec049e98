"""The examples run as scripts (`python examples/digits_cnn.py`) and import each other by bare
name (`import digits`); the tests import them the same way, with examples/ appended to sys.path
(appended: nothing of the project's or the standard library's is shadowed)."""

import sys
from pathlib import Path

EXAMPLES = str(Path(__file__).resolve().parents[2] / "examples")
if EXAMPLES not in sys.path:
    sys.path.append(EXAMPLES)
