"""lit configuration for aidjit's FileCheck tests: `lit -v test/filecheck`."""

import os
import sys
from pathlib import Path

import lit.formats

config.name = "aidjit"  # noqa: F821 - `config` is injected by lit
config.test_format = lit.formats.ShTest(execute_external=False)  # noqa: F821
config.suffixes = [".mlir"]  # noqa: F821
config.excludes = ["lit.cfg.py"]  # noqa: F821
config.test_source_root = os.path.dirname(__file__)  # noqa: F821

repository = Path(__file__).resolve().parents[2]
# The tools (aidjit-opt, filecheck) live beside the Python running lit: the project's venv.
tool_dir = str(Path(sys.executable).parent)
config.environment["PATH"] = os.pathsep.join([tool_dir, os.environ.get("PATH", "")])  # noqa: F821
config.environment["PYTHONPATH"] = str(repository)  # noqa: F821
for variable in ("AIDJIT_CACHE_DIR", "HOME", "CC"):
    if variable in os.environ:
        config.environment[variable] = os.environ[variable]  # noqa: F821

config.substitutions.append(  # noqa: F821
    (
        "%roundtrip",
        "aidjit-opt %s --print-op-generic --split-input-file | "
        "aidjit-opt --split-input-file | filecheck %s",
    )
)
