"""The public API: jit and compile, options, stages, stats, and every error a user can meet."""

import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import aidjit
from aidjit import ops

F32 = np.float32


def mlp(x, w, b):
    return ops.softmax(ops.relu(x @ w + b))


def mlp_inputs(batch: int = 2, dtype: type = F32) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [
        rng.standard_normal((batch, 4)).astype(dtype),
        rng.standard_normal((4, 3)).astype(dtype),
        rng.standard_normal(3).astype(dtype),
    ]


def eager(fn, *arrays):
    return fn(*[aidjit.Tensor(a) for a in arrays]).numpy()


def test_jit_decorator_compiles_once_per_signature() -> None:
    jitted = aidjit.jit(mlp)
    for batch in (2, 2, 5):
        inputs = mlp_inputs(batch)
        np.testing.assert_allclose(jitted(*inputs), eager(mlp, *inputs), rtol=1e-5, atol=1e-6)
    assert len(jitted.versions()) == 2
    np.testing.assert_allclose(
        jitted(*mlp_inputs(2, np.float64)), eager(mlp, *mlp_inputs(2, np.float64)), rtol=1e-12
    )
    assert len(jitted.versions()) == 3


def test_jit_with_options_as_decorator() -> None:
    @aidjit.jit(backend="interpreter")
    def double(x):
        return x * 2.0

    np.testing.assert_array_equal(double(np.arange(3, dtype=F32)), [0, 2, 4])
    assert double.versions()[0].compiled.options.backend == "interpreter"


def test_compile_exposes_every_stage_and_its_pipeline() -> None:
    compiled = aidjit.compile(mlp, *mlp_inputs())
    assert "graph.matmul" in compiled.ir("graph")
    assert "graph." in compiled.ir("optimized") and "scf.for" not in compiled.ir("optimized")
    loops = compiled.ir("loops")
    assert "scf.for" in loops and "graph." not in loops and "tensor<" not in loops
    assert "void mlp(" in compiled.ir("c")
    assert compiled.pipeline == aidjit.DEFAULT_PIPELINE
    with pytest.raises(ValueError, match="unknown stage"):
        compiled.ir("llvm")


def test_pipeline_string_reproduces_the_loops_with_aidjit_opt() -> None:
    compiled = aidjit.compile(mlp, *mlp_inputs())
    result = subprocess.run(
        [sys.executable, "-m", "aidjit.opt", "-p", compiled.pipeline],
        input=compiled.ir("graph"),
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == compiled.ir("loops").strip()


def test_stats_report_stages_op_counts_and_cache(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("AIDJIT_CACHE_DIR", str(tmp_path))  # an empty cache: the passes run
    compiled = aidjit.compile(mlp, *mlp_inputs(batch=24))
    stats = compiled.stats
    assert stats.total_ms > 0 and stats.trace_ms > 0
    assert any(name.endswith("convert-graph-to-linalg") for name in stats.passes_ms)
    assert stats.ops_before > stats.ops_after > 0
    assert stats.ops_lowered > stats.ops_after
    assert stats.cache == "miss"
    # The structure: one generic per graph op, fewer after fusion, one row loop for the MLP
    # (each block of rows, 8 on AVX-512 and 6 on AVX2, both dividing 24, through matmul, bias,
    # relu and softmax; a batch smaller than one block would be straight-line code, no loop,
    # and rows left over a block of their own after the loop), no heap per call.
    assert stats.generics_before_fusion > stats.fused_groups > 0
    assert stats.loop_nests == 1
    assert 0 < stats.workspace_bytes < stats.bytes_without_reuse
    again = aidjit.compile(mlp, *mlp_inputs(batch=24))
    assert again.stats.cache == "memory"


def test_custom_pipeline_and_graph_level_interpreter() -> None:
    compiled = aidjit.compile(mlp, *mlp_inputs(), pipeline="cse", backend="interpreter")
    assert compiled.pipeline == "cse"
    assert "graph.matmul" in compiled.ir("optimized")
    with pytest.raises(aidjit.AidjitError, match="stage 'loops' was not produced"):
        compiled.ir("loops")
    np.testing.assert_allclose(compiled(*mlp_inputs()), eager(mlp, *mlp_inputs()), rtol=1e-6)


def test_c_backend_needs_a_lowering_pipeline() -> None:
    with pytest.raises(aidjit.PipelineError, match="stops at the optimized level"):
        aidjit.compile(mlp, *mlp_inputs(), pipeline="canonicalize,cse")


@pytest.mark.parametrize(
    ("pipeline", "message"),
    [
        ("cse,no-such-pass", "no-such-pass"),
        ("cse{", "Expected argument name here"),
        ("canonicalize{bogus=1}", "bogus"),
    ],
)
def test_bad_pipelines_are_pipeline_errors(pipeline: str, message: str) -> None:
    with pytest.raises(aidjit.PipelineError, match=message):
        aidjit.compile(mlp, *mlp_inputs(), pipeline=pipeline)


def test_unknown_option_and_backend() -> None:
    with pytest.raises(TypeError, match="unknown aidjit option"):
        aidjit.compile(mlp, *mlp_inputs(), optimise=True)
    with pytest.raises(ValueError, match="backend must be"):
        aidjit.compile(mlp, *mlp_inputs(), backend="gpu")


@pytest.mark.parametrize("backend", ["c", "interpreter"])
def test_wrong_arguments_are_rejected_naming_them(backend: str) -> None:
    compiled = aidjit.compile(mlp, *mlp_inputs(), backend=backend)
    x, w, b = mlp_inputs()
    with pytest.raises(aidjit.ShapeError, match=r"'w': expected shape \(4, 3\), got \(3, 4\)"):
        compiled(x, w.T.copy(), b)
    with pytest.raises(aidjit.DTypeError, match="'b': expected float32, got float64"):
        compiled(x, w, b.astype(np.float64))
    with pytest.raises(aidjit.ArgumentCountError, match=r"takes 3 array arguments \(x, w, b\)"):
        compiled(x, w)


def test_non_contiguous_inputs_are_copied() -> None:
    compiled = aidjit.compile(mlp, *mlp_inputs())
    x, w, b = mlp_inputs()
    w_view = np.asfortranarray(w)
    np.testing.assert_allclose(compiled(x, w_view, b), eager(mlp, x, w, b), rtol=1e-5, atol=1e-6)


def test_tensors_are_accepted_as_arguments() -> None:
    inputs = mlp_inputs()
    result = aidjit.jit(mlp)(*[aidjit.Tensor(a) for a in inputs])
    np.testing.assert_allclose(result, eager(mlp, *inputs), rtol=1e-5, atol=1e-6)


def test_nested_outputs_and_closure_constants() -> None:
    scale = np.array([1.0, 2.0, 3.0], dtype=F32)

    def fn(x):
        y = x * scale
        return {"y": y, "pair": (ops.sum(y), x)}

    x = np.array([1.0, -1.0, 0.5], dtype=F32)
    out = aidjit.compile(fn, x)(x)
    np.testing.assert_allclose(out["y"], x * scale)
    np.testing.assert_allclose(out["pair"][0], (x * scale).sum(), rtol=1e-6)
    np.testing.assert_array_equal(out["pair"][1], x)


def test_value_and_grad_under_jit_is_one_compiled_function() -> None:
    def loss(w, x, labels):
        return ops.cross_entropy(x @ w, labels)

    rng = np.random.default_rng(3)
    w = rng.standard_normal((4, 3)).astype(F32)
    x = rng.standard_normal((5, 4)).astype(F32)
    labels = np.array([0, 2, 1, 1, 0])
    step = aidjit.jit(aidjit.value_and_grad(loss))
    value, grad = step(w, x, labels)
    expected_value, expected_grad = aidjit.value_and_grad(loss)(w, x, labels)
    np.testing.assert_allclose(value, expected_value, rtol=1e-5)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-5, atol=1e-6)
    compiled = step.versions()[0].compiled
    assert len(re.findall(r"^void \w+\(", compiled.ir("c"), re.MULTILINE)) == 1


def test_reading_a_traced_value_is_a_clear_error() -> None:
    def peek(x):
        return x * float(x.numpy().sum())

    with pytest.raises(aidjit.UnsupportedError, match=r"of a traced tensor<3xf32>"):
        aidjit.compile(peek, np.ones(3, F32))


def test_unsupported_argument_dtype() -> None:
    with pytest.raises(aidjit.DTypeError, match="argument 'x': dtype int32 is not supported"):
        aidjit.compile(lambda x: x, np.ones(3, np.int32))


def test_missing_compiler_and_failing_compile() -> None:
    with pytest.raises(aidjit.CompilerNotFoundError, match="CC="):
        aidjit.compile(mlp, *mlp_inputs(), cc="/nonexistent/cc")
    with pytest.raises(aidjit.CompilationError, match=r"\.c"):
        aidjit.compile(mlp, *mlp_inputs(), cflags=["-O2", "-fno-such-flag-for-aidjit"])


def test_second_process_hits_the_disk_cache(tmp_path) -> None:
    script = textwrap.dedent(
        """
        import numpy as np, aidjit
        from aidjit import ops
        def f(x):
            return ops.tanh(x) * 3.0 + 0.25
        compiled = aidjit.compile(f, np.ones((7, 5), np.float32))
        assert np.allclose(compiled(np.ones((7, 5), np.float32)), np.tanh(1.0) * 3 + 0.25)
        print(compiled.stats.cache)
        """
    )
    env = {"AIDJIT_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    runs = [
        subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
        for _ in range(2)
    ]
    assert runs == ["miss", "disk"]


def test_debug_levels_print_timings_ir_c_and_cache(monkeypatch, capsys, tmp_path) -> None:
    monkeypatch.setenv("AIDJIT_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("AIDJIT_DEBUG", "4")
    aidjit.compile(lambda x: ops.exp(x) + 1.0, np.ones(11, F32))
    err = capsys.readouterr().err
    assert "[aidjit] pass convert-graph-to-linalg:" in err
    assert "IR after canonicalize:\nbuiltin.module {" in err
    assert "#include <math.h>" in err
    assert "-shared" in err
    assert "cache" in err


@pytest.mark.parametrize("backend", ["c", "interpreter"])
def test_labels_out_of_range_are_rejected_not_silently_zero(backend: str) -> None:
    def loss(logits, labels):
        return ops.cross_entropy(logits, labels)

    logits = np.zeros((3, 4), F32)
    compiled = aidjit.compile(loss, logits, np.array([0, 1, 2]), backend=backend)
    assert compiled(logits, np.array([0, 3, 1])) == pytest.approx(np.log(4), rel=1e-6)
    with pytest.raises(aidjit.ArgumentValueError, match=r"'labels': labels must lie in \[0, 4\)"):
        compiled(logits, np.array([0, 4, 1]))
    with pytest.raises(aidjit.ArgumentValueError, match="from -1 to 1"):
        compiled(logits, np.array([0, -1, 1]))


def test_second_derivatives_compile() -> None:
    def second_derivative(x):
        with aidjit.GradientTape() as outer:
            outer.watch(x)
            with aidjit.GradientTape() as inner:
                inner.watch(x)
                y = ops.sum(ops.tanh(x) * x)
            first = ops.sum(inner.gradient(y, x))
        return outer.gradient(first, x)

    x = np.linspace(-1.0, 1.0, 7)
    compiled = aidjit.compile(second_derivative, x)
    t = np.tanh(x)
    expected = 2 * (1 - t**2) - 2 * x * t * (1 - t**2)
    np.testing.assert_allclose(compiled(x), expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(second_derivative(aidjit.Tensor(x)), expected, rtol=1e-12)


def test_jit_inside_jit_is_inlined() -> None:
    inner = aidjit.jit(lambda v: ops.tanh(v) * 2.0)

    @aidjit.jit
    def outer(v):
        return inner(v) + inner(v * 3.0)

    x = np.linspace(-1, 1, 5).astype(F32)
    np.testing.assert_allclose(outer(x), np.tanh(x) * 2 + np.tanh(3 * x) * 2, rtol=1e-6)
    assert not inner.versions()
    assert "graph.tanh" in outer.versions()[0].compiled.ir("graph")
