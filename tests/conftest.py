"""Session set-up: compiled kernels go to one cache directory shared by every test worker.

The test command (README, .ci/run) makes a fresh directory for the run and exports it as
AIDJIT_CACHE_DIR; run by hand without it, tests use `.pytest_cache/aidjit-kernels` in the
repository rather than the user's ~/.cache. Content-addressed entries make sharing safe.
"""

import os
from pathlib import Path

os.environ.setdefault(
    "AIDJIT_CACHE_DIR",
    str(Path(__file__).resolve().parent.parent / ".pytest_cache" / "aidjit-kernels"),
)
