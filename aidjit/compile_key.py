"""The disk-cache key of a compiled function, computed from its trace before any pass runs.

A warm start (a new process, the kernel already on disk) should cost trace + key + dlopen: no
pass, no C, no compiler, no xDSL import. So the key is a sha256 of everything that decides the
binary, all of it known right after tracing:

- the trace: the function's name; each argument's name, path, shape, dtype and weakness; each
  node in program order (primitive name, operands as references to arguments, earlier nodes or
  constants, params in a canonical form, output shape and dtype); each constant's shape, dtype
  and the sha256 of its bytes; the outputs as references;
- the options that change the code (`code_options`: the pass pipeline, `cc`, `cflags`, and any
  option added later unless `Options` declares it code-neutral);
- the toolchain (compiler path, flags, version), the detected target (`Target.fingerprint`) and
  the host CPU's feature flags (the default flags say -march=native);
- a digest of the state of aidjit's own source (`source_digest`), so a changed compiler never
  serves the kernels of the old one;
- :data:`KEY_VERSION`, bumped when the key's material or the entry format changes.

A param of a type the canonical form does not know gives no key (`None`): the function is then
compiled as before this key existed, through the C-source-keyed cache only. Never a key that
could collide: an unknown object's repr might hide what differs (a numpy array's repr elides).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from aidjit.autodiff.tensor import Tensor
    from aidjit.autodiff.trace import Trace
    from aidjit.runtime.toolchain import Toolchain

KEY_VERSION = "1"

SOURCE_PACKAGES: tuple[str, ...] = (
    "aidjit",
    "aidjit.autodiff",
    "aidjit.dialects",
    "aidjit.lowering",
    "aidjit.transforms",
    "aidjit.runtime",
)
"""Every package whose source can change a kernel (pyproject.toml maps each to its folder)."""


class Unkeyable(Exception):
    """A param value the canonical form does not cover."""


def compile_key(trace: Trace, code_options: Mapping[str, Any], toolchain: Toolchain) -> str | None:
    """The sha256 key of the kernel `trace` compiles to, or None if it cannot be keyed safely."""
    from aidjit.runtime.target import detect_target
    from aidjit.runtime.toolchain import host_fingerprint

    try:
        graph = trace_material(trace)
    except Unkeyable:
        return None
    material = (
        KEY_VERSION,
        graph,
        canonical_params(code_options),
        (toolchain.cc, toolchain.cflags, toolchain.ldflags, toolchain.version),
        detect_target().fingerprint(),
        host_fingerprint(),
        source_digest(),
    )
    return hashlib.sha256(repr(material).encode()).hexdigest()


def trace_material(trace: Trace) -> tuple[Any, ...]:
    """The trace as nested tuples of plain values: equal exactly when the graphs are equal.

    Raises Unkeyable for a param the canonical form does not cover.
    """
    references: dict[int, tuple[str, int]] = {
        id(tensor): ("arg", position) for position, tensor in enumerate(trace.args)
    }
    constants: list[tuple[Any, ...]] = []

    def reference(tensor: Tensor) -> tuple[str, int]:
        found = references.get(id(tensor))
        if found is None:  # a concrete tensor the trace touched: a constant of the graph
            array = tensor.numpy()
            constants.append((array.dtype.str, array.shape, _digest(array)))
            found = references[id(tensor)] = ("const", len(constants) - 1)
        return found

    arguments = tuple(
        (a.name, a.path, a.spec.shape, a.spec.dtype.str, a.weak) for a in trace.arguments
    )
    nodes = []
    for index, node in enumerate(trace.nodes):
        operands = tuple(reference(tensor) for tensor in node.inputs)
        params = canonical_params(node.params)
        spec = node.output.spec
        nodes.append((node.primitive.name, operands, params, spec.shape, spec.dtype.str))
        references[id(node.output)] = ("node", index)
    outputs = tuple(reference(tensor) for tensor in trace.outputs)
    return (trace.name, arguments, tuple(nodes), tuple(constants), outputs)


def canonical_params(params: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    """`params` as sorted (name, canonical value) pairs (`_canonical`); raises Unkeyable."""
    return tuple(sorted((name, _canonical(value)) for name, value in params.items()))


def _canonical(value: Any) -> Any:
    """`value` as nested tuples of None, bool, int, float and str, whose repr is exact."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.generic):
        return _canonical(value.item())
    if isinstance(value, tuple | list):
        return tuple(_canonical(item) for item in value)
    if isinstance(value, np.dtype):
        return ("dtype", value.str)
    if isinstance(value, np.ndarray):
        return ("array", value.dtype.str, value.shape, _digest(value))
    raise Unkeyable(type(value).__name__)


def _digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).data).hexdigest()


@functools.cache
def source_digest() -> str:
    """A sha256 naming the state of aidjit's source: each Python file's relative path, size and
    modification time, once per process.

    Stat, not read: ~1.4 ms for the ~110 files where reading and hashing them costs 2-5 ms of a
    20 ms warm start. An edit changes the time (and a reinstall writes new files), so a changed
    compiler never meets its old kernels; a touched but unchanged file costs one recompile
    of each function, whose C the C-keyed layer then finds.
    """
    digest = hashlib.sha256()
    for package in SOURCE_PACKAGES:
        spec = importlib.util.find_spec(package)  # locates the folder without importing it
        for root in (spec.submodule_search_locations or []) if spec else []:
            _digest_files(digest, f"{package}/", root)
    return digest.hexdigest()


def _digest_files(digest: Any, prefix: str, folder: str) -> None:
    """Add each `.py` file under `folder` to `digest`, named `prefix` + its relative path.

    os.scandir with names joined here, not os.walk with os.path.relpath: 1.4 ms against 3 ms
    for aidjit's tree, most of the difference being relpath's path normalisation.
    """
    with os.scandir(folder) as listing:
        entries = sorted(listing, key=lambda entry: entry.name)
    for entry in entries:
        if entry.name.endswith(".py"):
            status = entry.stat()
            digest.update(
                f"{prefix}{entry.name}\0{status.st_size}\0{status.st_mtime_ns}\0".encode()
            )
        elif entry.name != "__pycache__" and entry.is_dir():
            _digest_files(digest, f"{prefix}{entry.name}/", entry.path)


@functools.cache
def files_digest(*modules: str) -> str:
    """A sha256 of the source files of `modules`, found without importing them: for a record
    that depends on a few files only (a toolchain probe), not on every edit to aidjit."""
    digest = hashlib.sha256()
    for module in modules:
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            raise ModuleNotFoundError(f"no source for {module}")
        digest.update(f"{module}\0".encode())
        digest.update(Path(spec.origin).read_bytes())
    return digest.hexdigest()
