"""Start-up: the kernel key taken from the trace, warm starts without xDSL, the toolchain probe
recorded, and the tiers (an instant numpy tier while the optimised kernel is built)."""

import hashlib
import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

import aidjit
from aidjit import ops
from aidjit.api import CompiledFunction, Options
from aidjit.autodiff.trace import trace_function
from aidjit.compile_key import _digest_files, compile_key
from aidjit.runtime import toolchain
from aidjit.runtime.cache import clear_memory_cache
from aidjit.runtime.eager import TraceExecutor
from aidjit.runtime.toolchain import find_toolchain

FLOATS = [np.float32, np.float64]


def mlp(x, w, b):
    return ops.softmax(ops.relu(x @ w + b))


def mlp_inputs(batch: int = 2, dtype: type = np.float32) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    shapes = [(batch, 4), (4, 3), (3,)]
    return [rng.standard_normal(shape).astype(dtype) for shape in shapes]


def eager(fn, *arrays):
    return fn(*[aidjit.Tensor(a) for a in arrays]).numpy()


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("AIDJIT_CACHE_DIR", str(directory))
    clear_memory_cache()
    return directory


def run_python(script: str, cache_dir: Path, tier: str = "auto") -> str:
    environment = {"AIDJIT_CACHE_DIR": str(cache_dir), "AIDJIT_TIER": tier, "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


# --- imports and warm starts in fresh processes -------------------------------------------------


def test_import_aidjit_imports_neither_xdsl_nor_cffi(tmp_path: Path) -> None:
    script = "import aidjit, sys; print(sorted({m.split('.')[0] for m in sys.modules}))"
    modules = run_python(script, tmp_path)
    assert "'numpy'" in modules
    assert "'xdsl'" not in modules and "'cffi'" not in modules and "'pycparser'" not in modules


def test_the_libraries_on_the_compiler_are_imported_on_first_use(tmp_path: Path) -> None:
    script = (
        "import aidjit, sys; print([m in sys.modules for m in "
        "('aidjit.nn', 'aidjit.optim', 'aidjit.losses', 'aidjit.training', 'logging')]); "
        "print(aidjit.nn.Dense.__module__, aidjit.optim.Adam.__name__, aidjit.losses.mse.__name__, "
        "aidjit.Trainer.__module__)"
    )
    assert run_python(script, tmp_path).splitlines() == [
        "[False, False, False, False, False]",
        "aidjit.nn.core Adam mse aidjit.training",
    ]


WARM_SCRIPT = """
import sys, numpy as np, aidjit
from aidjit import ops

def f(x, w):
    return ops.tanh(x @ w) * 3.0 + ops.reshape(ops.sum(x, axis=1), (5, 1))

x = np.linspace(-1, 1, 35, dtype=np.float32).reshape(5, 7)
w = np.linspace(1, 0, 14, dtype=np.float32).reshape(7, 2)
compiled = aidjit.compile(f, x, w)
result = compiled(x, w)
imported = [  # before numpy.testing imports shutil
    m in sys.modules for m in ("xdsl", "shutil", "aidjit.runtime.compiler_self_test")
]
expected = np.tanh(x @ w) * 3 + x.sum(axis=1, keepdims=True)
np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-6)
stats = compiled.stats
print(stats.cache, *imported, stats.loop_nests, stats.ops_before, stats.fused_groups)
plain = sorted(  # dataclasses made by `dataclass`, not `aidjit.records.record`
    f"{name}.{cls.__name__}"
    for name, module in list(sys.modules.items()) if name.startswith("aidjit")
    for cls in vars(module).values()
    if isinstance(cls, type) and cls.__module__ == name and "__dataclass_fields__" in vars(cls)
    and "__record_shown__" not in vars(cls)
)
print(",".join(plain) or "none")
"""


def test_a_warm_start_loads_the_kernel_without_passes_or_xdsl(tmp_path: Path) -> None:
    """Nor shutil, whose import (bz2, lzma) cost 3-4 ms of a 15-20 ms warm start, nor the
    compiler self-test (~2 ms of dataclasses), whose verdict is recorded; and no class made by
    `dataclass`."""
    first = run_python(WARM_SCRIPT, tmp_path, tier="optimized").splitlines()[0].split()
    warm, plain_dataclasses = run_python(WARM_SCRIPT, tmp_path).splitlines()
    assert first[:2] == ["miss", "True"]
    assert warm.split()[:4] == ["disk", "False", "False", "False"]
    assert warm.split()[4:] == first[4:]  # the program's structure comes with the kernel
    # Each `dataclass` compiles six methods (~1 ms on Python 3.11): the modules of an import and
    # a warm start define theirs with `record`, which compiles one.
    assert plain_dataclasses == "none"


def test_ir_of_a_kernel_loaded_from_disk_is_made_from_the_trace(empty_cache: Path) -> None:
    x = np.ones((3, 4), np.float64)
    built = aidjit.compile(mlp, x, np.ones((4, 2)), np.ones(2))
    clear_memory_cache()
    loaded = aidjit.compile(mlp, x, np.ones((4, 2)), np.ones(2))
    assert (built.stats.cache, loaded.stats.cache) == ("miss", "disk")
    assert loaded.stats.passes_ms == {}
    assert loaded.ir("loops") == built.ir("loops")
    assert loaded.ir("c") == built.ir("c")
    assert "graph.matmul" in loaded.ir("graph")
    assert loaded.stats.structure() == built.stats.structure()


def test_value_preconditions_hold_for_a_kernel_from_disk(empty_cache: Path) -> None:
    logits, labels = np.zeros((3, 4), np.float32), np.array([0, 1, 2])
    aidjit.compile(ops.cross_entropy, logits, labels)
    clear_memory_cache()
    loaded = aidjit.compile(ops.cross_entropy, logits, labels)
    assert loaded.stats.cache == "disk"
    assert loaded(logits, labels) == pytest.approx(np.log(4), rel=1e-6)
    with pytest.raises(aidjit.ArgumentValueError, match=r"labels must lie in \[0, 4\)"):
        loaded(logits, np.array([0, 4, 1]))


# --- the kernel key -----------------------------------------------------------------------------


def key_of(fn, *args, **options) -> str | None:
    made = Options.make(**options)
    binder = aidjit.api.Binder(fn, made.static_argnums, made.static_argnames)
    signature = binder.bind(args, {}).signature()
    trace = trace_function(binder.flat_function(signature), signature.arguments, binder.name)
    return compile_key(trace, made.code_options(), find_toolchain(made.cc, made.cflags))


def test_the_key_is_the_same_for_the_same_graph_and_differs_for_what_changes_code() -> None:
    x, w, b = mlp_inputs()
    key = key_of(mlp, x, w, b)
    assert key is not None and key == key_of(mlp, x, w, b)
    scale = np.float32(2.0)
    variants = [
        key_of(mlp, *mlp_inputs(batch=3)),  # a shape
        key_of(mlp, *mlp_inputs(dtype=np.float64)),  # a dtype
        key_of(lambda x, w, b: mlp(x * scale, w, b), x, w, b),  # another graph
        key_of(mlp, x, w, b, pipeline="canonicalize,cse,dce"),  # options that change code
        key_of(mlp, x, w, b, cflags=["-O2"]),
    ]
    assert len({key, *variants}) == len(variants) + 1
    assert key_of(mlp, x, w, b, tier="auto", max_versions=3) == key  # code-neutral options


def test_constants_are_keyed_by_their_bytes() -> None:
    x = np.ones(3, np.float32)

    def adds(c: np.ndarray):
        return lambda v: v + c

    one, other = np.array([1, 2, 3], np.float32), np.array([1, 2, 4], np.float32)
    assert key_of(adds(one), x) == key_of(adds(one.copy()), x)
    assert key_of(adds(one), x) != key_of(adds(other), x)


def test_static_values_are_keyed_through_the_trace() -> None:
    def power(x, n):
        for _ in range(n):
            x = x * x
        return x

    x = np.ones(2)
    keys = {key_of(power, x, n, static_argnums=1) for n in (1, 2, 2)}
    assert len(keys) == 2


# --- the kernel cache ---------------------------------------------------------------------------


def test_the_source_digest_follows_every_python_file_of_the_tree(tmp_path: Path) -> None:
    def digest() -> str:
        found = hashlib.sha256()
        _digest_files(found, "package/", str(tmp_path))
        return found.hexdigest()

    (tmp_path / "sub" / "__pycache__").mkdir(parents=True)
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "sub" / "b.py").write_text("y = 2\n")
    first = digest()
    assert digest() == first
    (tmp_path / "notes.txt").write_text("not source")
    (tmp_path / "sub" / "__pycache__" / "b.py").write_text("cached")
    assert digest() == first
    seen = {first}
    (tmp_path / "sub" / "b.py").write_text("y = 20\n")  # size
    seen.add(digest())
    os.utime(tmp_path / "a.py", ns=(0, 12345))  # time only
    seen.add(digest())
    (tmp_path / "sub" / "c.py").write_text("")  # a new file
    seen.add(digest())
    (tmp_path / "sub" / "c.py").rename(tmp_path / "c.py")  # the same file elsewhere
    seen.add(digest())
    assert len(seen) == 5


def kernel_records(directory: Path) -> list[Path]:
    return sorted(directory.glob("*/*.kernel.json"))


def test_a_kernel_is_recorded_beside_its_shared_object(empty_cache: Path) -> None:
    compiled = aidjit.compile(mlp, *mlp_inputs())
    (record,) = kernel_records(empty_cache)
    text = record.read_text()
    assert '"symbol": "mlp"' in text and "workspace_bytes" in text
    assert compiled.stats.cache == "miss"


@pytest.mark.parametrize("damage", ["garbage record", "missing so", "damaged so"])
def test_a_damaged_kernel_entry_is_compiled_again(empty_cache: Path, damage: str) -> None:
    inputs = mlp_inputs()
    aidjit.compile(mlp, *inputs)
    (record,) = kernel_records(empty_cache)
    (so_path,) = empty_cache.glob("*/*.so")
    if damage == "garbage record":
        record.write_text('{"symbol": ')
    elif damage == "missing so":
        so_path.unlink()
    else:  # a new file in its place: this process has the old one mapped
        damaged = so_path.with_suffix(".damaged")
        damaged.write_bytes(b"not an ELF file")
        damaged.replace(so_path)
    clear_memory_cache()
    again = aidjit.compile(mlp, *inputs)
    # A readable .so is reused by the C-keyed layer ("source"); a lost one is compiled.
    assert again.stats.cache == ("source" if damage == "garbage record" else "miss")
    np.testing.assert_allclose(again(*inputs), eager(mlp, *inputs), rtol=1e-5, atol=1e-6)
    clear_memory_cache()
    assert aidjit.compile(mlp, *inputs).stats.cache == "disk"


def test_a_kernel_that_does_not_load_is_forgotten_and_rebuilt(
    empty_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs = mlp_inputs()
    aidjit.compile(mlp, *inputs)
    clear_memory_cache()
    (record,) = kernel_records(empty_cache)
    record.write_text(record.read_text().replace('"symbol": "mlp"', '"symbol": "no_such"'))
    again = aidjit.compile(mlp, *inputs)
    assert again.stats.cache == "source"
    np.testing.assert_allclose(again(*inputs), eager(mlp, *inputs), rtol=1e-5, atol=1e-6)


# --- the toolchain probe ------------------------------------------------------------------------


def test_a_recorded_toolchain_probe_runs_no_subprocess(
    empty_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(toolchain, "_found", {})
    probed = find_toolchain()
    assert list((empty_cache / "toolchains").glob("probe-*.json"))
    monkeypatch.setattr(toolchain, "_found", {})

    def no_subprocess(*args, **kwargs):
        raise AssertionError(f"a subprocess ran: {args}")

    monkeypatch.setattr(subprocess, "run", no_subprocess)
    assert toolchain.recorded_toolchain() == probed
    assert find_toolchain() == probed


def test_a_recorded_self_test_failure_warns_and_falls_back_in_a_new_process(
    empty_cache: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(toolchain, "_found", {})
    probed = find_toolchain()
    (record,) = (empty_cache / "toolchains").glob("probe-*.json")
    data = json.loads(record.read_text())
    fallback = [*probed.cflags, "-fno-tree-vectorize"]
    data["verdict"] = {"failures": {"global-copy": "computes wrong values"}, "cflags": fallback}
    record.write_text(json.dumps(data))
    monkeypatch.setattr(toolchain, "_found", {})  # a new process: only the disk record
    with caplog.at_level(logging.WARNING, logger="aidjit"):
        recorded = toolchain.recorded_toolchain()
    assert recorded is not None and list(recorded.cflags) == fallback
    assert "global-copy" in caplog.text and "computes wrong values" in caplog.text
    record.write_text(record.read_text().replace('"failures": {', '"failures": [{'))
    monkeypatch.setattr(toolchain, "_found", {})
    assert toolchain.recorded_toolchain() is None  # damaged: probed again


def test_a_changed_compiler_is_probed_again(
    empty_cache: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    compiler = tmp_path / "cc"
    compiler.write_text(f'#!/bin/sh\nexec {find_toolchain().cc} "$@"\n')
    compiler.chmod(0o755)
    monkeypatch.setattr(toolchain, "_found", {})
    find_toolchain(cc=str(compiler))
    monkeypatch.setattr(toolchain, "_found", {})
    assert toolchain.recorded_toolchain(cc=str(compiler)) is not None
    compiler.write_text(compiler.read_text() + "# another version\n")
    monkeypatch.setattr(toolchain, "_found", {})  # a new process: only the disk record
    assert toolchain.recorded_toolchain(cc=str(compiler)) is None


# --- tiers --------------------------------------------------------------------------------------


class HeldBuild:
    """Holds every background build until `release()`: the instant tier's calls are certain."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.released = threading.Event()
        build = CompiledFunction._build_native

        def held(compiled: CompiledFunction):
            assert self.released.wait(60)
            return build(compiled)

        monkeypatch.setattr(CompiledFunction, "_build_native", held)

    def release(self) -> None:
        self.released.set()


@pytest.mark.parametrize("dtype", FLOATS)
def test_auto_tier_answers_with_numpy_then_swaps_in_the_kernel(
    empty_cache: Path, monkeypatch: pytest.MonkeyPatch, dtype: type
) -> None:
    held = HeldBuild(monkeypatch)
    inputs = mlp_inputs(dtype=dtype)
    compiled = aidjit.compile(mlp, *inputs, tier="auto")
    assert (compiled.stats.tier, compiled.stats.cache) == ("instant", "miss")
    for _ in range(3):
        np.testing.assert_allclose(compiled(*inputs), eager(mlp, *inputs), rtol=1e-6)
    assert compiled.stats.instant_calls == 3
    held.release()
    assert compiled.wait() is compiled
    assert compiled.stats.tier == "optimized" and compiled.stats.optimized_ms > 0
    np.testing.assert_allclose(compiled(*inputs), eager(mlp, *inputs), rtol=1e-5, atol=1e-6)
    assert compiled.stats.instant_calls == 3
    assert "scf.for" in compiled.ir("loops")


def test_the_instant_tier_checks_arguments_as_the_kernel_does(
    empty_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = HeldBuild(monkeypatch)
    x, w, b = mlp_inputs()
    compiled = aidjit.compile(mlp, x, w, b, tier="auto")
    with pytest.raises(aidjit.DTypeError, match="'x': expected float32, got float64"):
        compiled(x.astype(np.float64), w, b)
    with pytest.raises(aidjit.ShapeError, match=r"expected shape \(2, 4\)"):
        compiled(x[:1], w, b)
    held.release()
    compiled.wait()


def test_jit_with_auto_tier_runs_instantly_on_a_cold_cache(
    empty_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = HeldBuild(monkeypatch)
    jitted = aidjit.jit(mlp, tier="auto")
    inputs = mlp_inputs()
    np.testing.assert_allclose(jitted(*inputs), eager(mlp, *inputs), rtol=1e-6)
    compiled = jitted.compiled(*inputs)
    assert compiled.stats.instant_calls == 1
    held.release()
    compiled.wait()


def test_a_failed_background_build_is_raised_by_the_next_call_and_logged_once(
    empty_cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    inputs = mlp_inputs()
    with caplog.at_level(logging.ERROR, logger="aidjit"):
        compiled = aidjit.compile(mlp, *inputs, tier="auto", cflags=["-fno-such-flag-for-aidjit"])
        with pytest.raises(aidjit.CompilationError, match="no-such-flag"):
            compiled.wait()
        for _ in range(2):
            with pytest.raises(aidjit.CompilationError, match="no-such-flag"):
                compiled(*inputs)
    (record,) = [r for r in caplog.records if "optimised build failed" in r.getMessage()]
    assert "mlp" in record.getMessage() and "CompilationError" in record.getMessage()


def test_background_builds_at_the_same_time(empty_cache: Path) -> None:
    """Four optimised builds in four background threads at once: xDSL's implicit builder is
    not thread-safe (aidjit.dialects.xdsl_fixes.IR_LOCK), and without the lock they failed
    with "Can't add to a block an operation already attached to a block"."""
    inputs = mlp_inputs()
    versions = [
        aidjit.compile(
            mlp, *inputs, tier="auto", cflags=["-O1", "-march=native", f"-DAIDJIT_VARIANT={n}"]
        )
        for n in range(4)
    ]
    for compiled in versions:
        compiled(*inputs)
    for compiled in versions:
        compiled.wait()
        assert compiled.stats.tier == "optimized"
        np.testing.assert_allclose(compiled(*inputs), eager(mlp, *inputs), rtol=1e-5)


def test_a_cache_hit_needs_no_instant_tier(empty_cache: Path) -> None:
    inputs = mlp_inputs()
    aidjit.compile(mlp, *inputs, tier="optimized")
    again = aidjit.compile(mlp, *inputs, tier="auto")
    assert (again.stats.tier, again.stats.cache) == ("optimized", "memory")


def test_tier_comes_from_the_environment_unless_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIDJIT_TIER", "optimized")
    assert Options.make().tier == "optimized"
    assert Options.make(tier="auto").tier == "auto"
    monkeypatch.delenv("AIDJIT_TIER")
    assert Options.make().tier == "auto"
    with pytest.raises(ValueError, match="tier must be 'auto' or 'optimized', got 'fast'"):
        Options.make(tier="fast")
    monkeypatch.setenv("AIDJIT_TIER", "eager")
    with pytest.raises(ValueError, match=r"got 'eager' \(from \$AIDJIT_TIER\)"):
        Options.make()


# --- the instant tier's executor ----------------------------------------------------------------


def executor_for(fn, *args) -> TraceExecutor:
    binder = aidjit.api.Binder(fn, (), ())
    signature = binder.bind(args, {}).signature()
    return TraceExecutor(
        trace_function(binder.flat_function(signature), signature.arguments, binder.name)
    )


@pytest.mark.parametrize("dtype", FLOATS)
def test_the_executor_matches_eager_numpy(dtype: type) -> None:
    constant = np.arange(3, dtype=dtype)

    def fn(x, y):
        z = ops.exp(x) * constant + ops.sum(y, axis=0)
        return z, ops.layer_norm(z), ops.transpose(y)

    x, y = np.linspace(0, 1, 3, dtype=dtype), np.linspace(-1, 1, 6, dtype=dtype).reshape(2, 3)
    results = executor_for(fn, x, y)(x, y)
    expected = [r.numpy() for r in fn(aidjit.Tensor(x), aidjit.Tensor(y))]
    for result, want in zip(results, expected, strict=True):
        assert result.dtype == dtype and result.flags.c_contiguous
        np.testing.assert_array_equal(result, want)


def test_the_executor_never_returns_memory_the_caller_holds() -> None:
    x = np.arange(6.0)
    constant = np.ones(2)
    results = executor_for(lambda v: (v, ops.reshape(v, (2, 3)), v, constant), x)(x)
    owners = [x, constant, *results]
    for index, result in enumerate(results):
        others = owners[:2] + owners[2:][:index] + owners[2:][index + 1 :]
        assert not any(np.shares_memory(result, other) for other in others)
    np.testing.assert_array_equal(results[1], x.reshape(2, 3))
