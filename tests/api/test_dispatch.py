"""The dispatch fast path of `jit` and `CompiledFunction`: a call with exactly the compiled arrays
goes straight to the kernel's entry (no binding, no key); everything else behaves as before."""

import threading

import numpy as np
import pytest

import aidjit
from aidjit import ops
from aidjit.arguments import Binder
from aidjit.runtime.entry_point import entry_module

pytestmark = pytest.mark.skipif(
    entry_module() is None, reason="the dispatch extension does not build here"
)

F32, F64 = np.float32, np.float64


def fma(a, b, c):
    return a * b + c


def arrays(dtype: type = F32, shape: tuple[int, ...] = (4, 5), seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(dtype) for _ in range(3)]


def refuse_binding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any call that binds its arguments fail: only the fast path may run."""

    def bind(*_: object, **__: object) -> None:
        raise AssertionError("the call was bound: the fast path was not taken")

    monkeypatch.setattr(Binder, "bind", bind)


@pytest.mark.parametrize("dtype", [F32, F64])
def test_fast_path_matches_the_bound_path_and_numpy(
    dtype: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    jitted = aidjit.jit(fma)
    a, b, c = arrays(dtype)
    slow = jitted(a, b, c)  # first call: binds, compiles, records the version
    compiled = jitted.compiled(a, b, c)
    bound = compiled.run_leaves([a, b, c])
    refuse_binding(monkeypatch)
    fast = jitted(a, b, c)
    assert fast.dtype == dtype and fast.shape == a.shape
    np.testing.assert_array_equal(fast, slow)
    np.testing.assert_array_equal(fast, bound)
    np.testing.assert_array_equal(compiled(a, b, c), slow)
    np.testing.assert_allclose(fast, a * b + c, rtol=1e-6)


def test_tuple_outputs_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    jitted = aidjit.jit(lambda x, y: (x + y, ops.sum(x * y)))
    x, y, _ = arrays(F64)
    jitted(x, y)
    refuse_binding(monkeypatch)
    total, dot = jitted(x, y)
    np.testing.assert_allclose(total, x + y)
    np.testing.assert_allclose(dot, np.sum(x * y))


def test_other_output_trees_are_unflattened() -> None:
    jitted = aidjit.jit(lambda x, y: {"sum": x + y, "parts": [x, y * 2.0]})
    x, y, _ = arrays(F64)
    for _ in range(2):
        result = jitted(x, y)
        np.testing.assert_allclose(result["sum"], x + y)
        np.testing.assert_allclose(result["parts"][1], y * 2)


def test_outputs_are_fresh_arrays() -> None:
    jitted = aidjit.jit(fma)
    a, b, c = arrays()
    first, second = jitted(a, b, c), jitted(a, b, c)
    assert first is not second and not np.shares_memory(first, second)
    first[...] = 0.0
    np.testing.assert_allclose(jitted(a, b, c), a * b + c, rtol=1e-6)


def test_a_new_shape_or_dtype_compiles_a_new_version() -> None:
    jitted = aidjit.jit(fma)
    small, wide, double = arrays(), arrays(shape=(3, 7)), arrays(F64)
    for inputs in (small, wide, double, small, wide):
        np.testing.assert_allclose(jitted(*inputs), fma(*inputs), rtol=1e-6)
    assert [v.reason for v in jitted.versions()][1:] == [
        "argument 'a' changed: tensor<4x5xf32> -> tensor<3x7xf32>; argument 'b' changed: "
        "tensor<4x5xf32> -> tensor<3x7xf32>; argument 'c' changed: tensor<4x5xf32> -> "
        "tensor<3x7xf32>",
        "argument 'a' changed: tensor<3x7xf32> -> tensor<4x5xf64>; argument 'b' changed: "
        "tensor<3x7xf32> -> tensor<4x5xf64>; argument 'c' changed: tensor<3x7xf32> -> "
        "tensor<4x5xf64>",
    ]


def test_compiled_function_errors_are_unchanged_after_fast_calls() -> None:
    a, b, c = arrays()
    compiled = aidjit.compile(fma, a, b, c)
    compiled(a, b, c)  # primes the fast path
    with pytest.raises(aidjit.DTypeError, match=r"^arg 2 'c': expected float32, got float64$"):
        compiled(a, b, c.astype(F64))
    with pytest.raises(aidjit.ShapeError, match=r"'a': expected shape \(4, 5\), got \(5, 4\)"):
        compiled(a.T.copy(), b, c)
    with pytest.raises(aidjit.ArgumentCountError, match=r"fma\(\) takes 3 array arguments"):
        compiled(a, b)
    strided = np.asfortranarray(a)
    np.testing.assert_allclose(compiled(strided, b, c), a * b + c, rtol=1e-6)
    np.testing.assert_allclose(compiled(a[None][0], b, c), a * b + c, rtol=1e-6)  # a view


def test_tensors_are_inlined_under_an_outer_trace_and_a_tape() -> None:
    inner = aidjit.jit(fma)
    a, b, c = arrays(F64)
    inner(a, b, c)  # a version exists: calls with arrays like these take the fast path

    @aidjit.jit
    def outer(a, b, c):
        return ops.tanh(inner(a, b, c))

    np.testing.assert_allclose(outer(a, b, c), np.tanh(a * b + c), rtol=1e-12)
    assert "graph.mul" in outer.versions()[0].compiled.ir("graph")
    gradient = aidjit.grad(lambda a: ops.sum(inner(a, b, c)))(a)
    np.testing.assert_allclose(gradient, b, rtol=1e-12)
    assert len(inner.versions()) == 1


def test_value_checks_still_run() -> None:
    jitted = aidjit.jit(lambda logits, labels: ops.cross_entropy(logits, labels))
    logits = np.zeros((3, 4), F32)
    assert jitted(logits, np.array([0, 3, 1])) == pytest.approx(np.log(4), rel=1e-6)
    with pytest.raises(aidjit.ArgumentValueError, match=r"labels must lie in \[0, 4\)"):
        jitted(logits, np.array([0, 4, 1]))


def test_the_background_build_swaps_in_a_fast_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    a, b, c = arrays(F64, seed=7)
    compiled = aidjit.compile(lambda a, b, c: a * c - b, a, b, c, tier="auto")
    np.testing.assert_allclose(compiled(a, b, c), a * c - b)  # instant or optimised
    compiled.wait()
    refuse_binding(monkeypatch)
    np.testing.assert_allclose(compiled(a, b, c), a * c - b)


def test_threads_calling_at_once() -> None:
    jitted = aidjit.jit(lambda x, w: ops.softmax(ops.tanh(x @ w)))
    rng = np.random.default_rng(3)
    w = rng.standard_normal((16, 8))
    jitted(rng.standard_normal((4, 16)), w)
    failures: list[str] = []
    barrier = threading.Barrier(4)

    def run(seed: int) -> None:
        x = np.random.default_rng(seed).standard_normal((4, 16))
        z = np.tanh(x @ w)
        expected = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        barrier.wait()
        for _ in range(200):
            if not np.allclose(jitted(x, w), expected, rtol=1e-12):
                failures.append(f"thread {seed}")
                return

    threads = [threading.Thread(target=run, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(jitted.versions()) == 1


@pytest.mark.parametrize("name", ["step", "send", "index", "random"])
def test_kernels_named_like_libc_functions(name: str) -> None:
    """A kernel named like an exported libc symbol (`step` is glibc's regexp.h function) is the
    one the dispatch thunk calls: the kernel is linked -Bsymbolic, so its own call binds inside
    it instead of through the process's global scope (that call crashed before)."""

    def body(x: aidjit.Tensor) -> aidjit.Tensor:
        return ops.tanh(x) * 2.0

    body.__name__ = body.__qualname__ = name
    x = np.linspace(-1, 1, 5)
    np.testing.assert_allclose(aidjit.jit(body)(x), np.tanh(x) * 2.0, rtol=1e-12)
