"""Every module imports on its own, in a fresh process, whatever was imported before it.

A plain `import aidjit.x` runs `aidjit/__init__.py` first, which imports nearly everything, so
it would hide a module that works only because another module's import filled a table (the
`graph` dialect once needed `autodiff/ops` to have filled the primitive registry). The
isolated check therefore replaces the `__init__` of each package outside the module with an
empty package at the same path, so a module gets exactly what its own imports give it. Each
module starts with no aidjit module in `sys.modules`, all in one subprocess for speed.
"""

import importlib
import json
import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES: list[str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
    "packages"
]
PUBLIC_MODULES = (
    "aidjit",
    "aidjit.autodiff",
    "aidjit.dialects.graph",
    "aidjit.lowering.trace_to_graph",
    "aidjit.opt",
    "aidjit.runtime.emit_c",
    "aidjit.dtypes",
)

_FRESH_AIDJIT = """
import importlib, json, sys, traceback, types

def fresh_aidjit(packages, target, whole=()):
    \"\"\"No aidjit module imported; every package outside `target` an empty one at its path,
    but those in `whole`, imported as they are.\"\"\"
    for name in [name for name in sys.modules if name == "aidjit" or name.startswith("aidjit.")]:
        del sys.modules[name]
    for name, path in packages.items():
        if name not in whole and name != target and not name.startswith(target + "."):
            stub = types.ModuleType(name)
            stub.__path__ = path
            sys.modules[name] = stub
"""

_IMPORT_EACH = (
    _FRESH_AIDJIT
    + """
packages, modules, libraries = json.loads(sys.argv[1])
failures = {}
for target in modules:
    fresh_aidjit(packages, target, tuple(packages) if target in libraries else ())
    try:
        importlib.import_module(target)
    except Exception:
        failures[target] = traceback.format_exc(limit=-3)
print(json.dumps(failures))
"""
)

_VERIFY_GRAPH_ALONE = (
    _FRESH_AIDJIT
    + """
fresh_aidjit(json.loads(sys.argv[1]), "aidjit.dialects.graph")
from xdsl.context import Context
from aidjit.dialects.graph import Graph
ctx = Context()
ctx.load_dialect(Graph)
from xdsl.dialects.builtin import Builtin
from xdsl.dialects.func import Func
from xdsl.parser import Parser
ctx.load_dialect(Builtin)
ctx.load_dialect(Func)
module = Parser(ctx, sys.argv[2]).parse_module()
module.verify()
assert "aidjit.autodiff.ops" in sys.modules
"""
)


LIBRARIES = ("aidjit.nn", "aidjit.optim", "aidjit.losses", "aidjit.training")
"""Written on the public API, as a user's library would be (DESIGN.md): they import from
`aidjit` itself, so they are imported with every package's real `__init__`."""


def _package_paths() -> dict[str, list[str]]:
    return {name: list(importlib.import_module(name).__path__) for name in PACKAGES}


def _all_modules() -> list[str]:
    modules = list(PACKAGES)
    for package, path in _package_paths().items():
        modules += [f"{package}.{m.name}" for m in pkgutil.iter_modules(path) if not m.ispkg]
    return sorted(modules)


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=300, cwd=ROOT
    )


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_public_module_imports_in_a_fresh_process(module: str) -> None:
    result = _python("-c", f"import {module}")
    assert result.returncode == 0, result.stderr


def test_every_module_imports_without_its_packages_init() -> None:
    modules = _all_modules()
    assert "aidjit.dialects.graph" in modules and "aidjit.autodiff.primitives" in modules
    libraries = [m for m in modules if m.startswith(LIBRARIES)]
    result = _python("-c", _IMPORT_EACH, json.dumps([_package_paths(), modules, libraries]))
    assert result.returncode == 0, result.stderr
    failures = json.loads(result.stdout)
    assert not failures, "\n".join(f"{name}:\n{trace}" for name, trace in failures.items())


def test_graph_dialect_alone_verifies_ops() -> None:
    """Its verifiers ask the primitives: the dialect alone must find every one of them."""
    program = """
    func.func @f(%x: tensor<3xf32>) -> tensor<3xf32> {
      %0 = graph.negate %x : tensor<3xf32>
      func.return %0 : tensor<3xf32>
    }
    """
    result = _python("-c", _VERIFY_GRAPH_ALONE, json.dumps(_package_paths()), program)
    assert result.returncode == 0, result.stderr


def test_every_public_op_comes_from_one_family() -> None:
    """`aidjit.ops` star-imports each family module's `__all__`: a name two families defined
    would silently be whichever came last."""
    package = importlib.import_module("aidjit.autodiff.ops")
    owners: dict[str, list[str]] = {}
    for module in pkgutil.iter_modules(package.__path__):
        family = importlib.import_module(f"aidjit.autodiff.ops.{module.name}")
        for name in family.__all__:
            owners.setdefault(name, []).append(module.name)
            assert getattr(package, name) is getattr(family, name), name
    assert not {name: found for name, found in owners.items() if len(found) > 1}
