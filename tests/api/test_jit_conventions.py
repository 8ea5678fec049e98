"""Calling conventions of jit and compile: keywords, static arguments, methods, weak Python
scalars, wrapper metadata, and the one_hot label check through layout ops and pytrees."""

import dataclasses
from typing import Any

import numpy as np
import pytest

import aidjit
from aidjit import ops

F32 = np.float32


def test_keyword_arguments_bind_to_parameters() -> None:
    @aidjit.jit
    def affine(x, w, b=None, *, scale=1.0):
        y = x @ w
        return (y if b is None else y + b) * scale

    x, w, b = np.ones((2, 3), F32), np.ones((3, 2), F32), np.full(2, 0.5, F32)
    np.testing.assert_allclose(affine(x, w=w, b=b), np.full((2, 2), 3.5))
    np.testing.assert_allclose(affine(x, w, b), np.full((2, 2), 3.5))
    assert len(affine.versions()) == 1  # keywords for positional parameters: the same key
    np.testing.assert_allclose(affine(x, w, scale=2.0), np.full((2, 2), 6.0))
    with pytest.raises(TypeError, match=r"affine\(\): missing a required argument: 'w'"):
        affine(x, b=b)


def test_static_argnums_and_argnames() -> None:
    @aidjit.jit(static_argnums=1)
    def power(x, n):
        for _ in range(n - 1):
            x = x * x
        return x

    x = np.full(2, 2.0, F32)
    assert power(x, 2)[0] == 4.0 and power(x, 3)[0] == 16.0 and power(x, n=3)[0] == 16.0
    assert len(power.versions()) == 2
    assert "static argument 'n' changed: 2 -> 3" in power.versions()[1].reason

    @aidjit.jit(static_argnames=("mode",))
    def act(x, mode="relu"):
        return ops.relu(x) if mode == "relu" else ops.tanh(x)

    x = np.array([-1.0, 1.0])
    np.testing.assert_allclose(act(x), [0.0, 1.0])
    np.testing.assert_allclose(act(x, mode="tanh"), np.tanh(x))
    np.testing.assert_allclose(act(x, "tanh"), np.tanh(x))
    np.testing.assert_allclose(act(x, mode="relu"), [0.0, 1.0])  # the default: same version
    assert len(act.versions()) == 2


def test_negative_static_argnums_and_compile() -> None:
    def repeat(x, n):
        return x * float(n)

    compiled = aidjit.compile(repeat, np.ones(2), 3, static_argnums=-1)
    np.testing.assert_array_equal(compiled(np.ones(2), 3), [3.0, 3.0])
    with pytest.raises(aidjit.ArgumentValueError, match="static argument 'n' changed: 3 -> 4"):
        compiled(np.ones(2), 4)


def test_static_argument_must_be_hashable() -> None:
    jitted = aidjit.jit(lambda x, shape: ops.reshape(x, shape), static_argnums=1)
    np.testing.assert_array_equal(jitted(np.ones(4), (2, 2)).shape, (2, 2))
    with pytest.raises(aidjit.ArgumentValueError, match="static argument 'shape' must be hashable"):
        jitted(np.ones(4), [2, 2])


def test_unknown_static_argname() -> None:
    with pytest.raises(ValueError, match=r"static_argnames \['m'\] are not parameters"):
        aidjit.jit(lambda x, n: x, static_argnames="m")


def test_non_array_arguments_suggest_static() -> None:
    with pytest.raises(aidjit.DTypeError, match="argument 'flag' is a bool.*static_argnums"):
        aidjit.jit(lambda x, flag: x)(np.ones(2), True)


class Model:
    def __init__(self, scale: float) -> None:
        self.w = np.full(2, scale, F32)

    @aidjit.jit
    def forward(self, x):
        """Scale x."""
        return x * self.w


@aidjit.tree_util.register_dataclass
@dataclasses.dataclass
class Params:
    w: np.ndarray

    @aidjit.jit
    def apply(self, x):
        return x * self.w


def test_methods_with_a_static_self() -> None:
    one, two = Model(1.0), Model(2.0)
    x = np.ones(2, F32)
    np.testing.assert_array_equal(one.forward(x), [1.0, 1.0])
    np.testing.assert_array_equal(two.forward(x), [2.0, 2.0])
    np.testing.assert_array_equal(one.forward(x=x), [1.0, 1.0])
    assert len(Model.forward.versions()) == 2  # one per instance: self is static
    assert one.forward.__doc__ == "Scale x."
    assert repr(one.forward).startswith("<bound aidjit.jit forward of")
    plain = two.forward.__func__.__wrapped__
    with pytest.raises(aidjit.DTypeError, match="argument 'self' is a Model.*mark it static"):
        aidjit.jit(plain)(two, x)
    np.testing.assert_array_equal(aidjit.jit(plain, static_argnums=0)(two, x), [2.0, 2.0])


def test_methods_of_a_pytree_trace_self() -> None:
    x = np.ones(2)
    np.testing.assert_array_equal(Params(np.full(2, 3.0)).apply(x), [3.0, 3.0])
    np.testing.assert_array_equal(Params(np.full(2, 4.0)).apply(x), [4.0, 4.0])
    versions = Params.apply.versions()
    assert len(versions) == 1 and "self.w: tensor<2xf64>" in versions[0].signature
    assert "%self_w: tensor<2xf64>" in versions[0].compiled.ir("graph")


def test_jit_of_a_bound_method() -> None:
    model = Model(3.0)
    jitted = aidjit.jit(model.forward.__func__.__wrapped__.__get__(model))
    np.testing.assert_array_equal(jitted(np.ones(2, F32)), [3.0, 3.0])


def test_wrapper_metadata_and_repr() -> None:
    def scaled(x):
        """Double x."""
        return x * 2.0

    jitted = aidjit.jit(scaled)
    assert jitted.__name__ == "scaled" and jitted.__doc__ == "Double x."
    assert jitted.__wrapped__ is scaled
    assert repr(jitted).startswith("<aidjit.jit scaled at 0x")


@pytest.mark.parametrize("backend", ["c", "interpreter"])
def test_python_scalars_are_weak_runtime_arguments(backend: str) -> None:
    step = aidjit.jit(lambda w, g, lr: w - lr * g, backend=backend)
    w, g = np.ones(3, F32), np.full(3, 2.0, F32)
    for lr in (0.1, 0.25, 0.5):
        out = step(w, g, lr)
        assert out.dtype == F32
        np.testing.assert_allclose(out, w - lr * g, rtol=1e-6)
    assert len(step.versions()) == 1
    assert "%lr: tensor<f64>" in step.versions()[0].compiled.ir("graph")
    assert step(w, g, 1)[0] == pytest.approx(-1.0)  # an int is a weak int64: a new version
    assert len(step.versions()) == 2


def test_python_scalar_keeps_float64_arrays_float64() -> None:
    out = aidjit.jit(lambda x, s: x * s)(np.ones(2), 3.0)
    assert out.dtype == np.float64


def test_mixed_float_arrays_error_names_the_arguments() -> None:
    jitted = aidjit.jit(lambda x, s: x * s)
    with pytest.raises(
        aidjit.DTypeError, match=r"operand dtypes differ.*argument 's' is tensor<f64>"
    ):
        jitted(np.ones(2, F32), np.array(2.0))  # a 0-d array is strong; a scalar is weak


def test_shape_errors_name_pytree_arguments() -> None:
    with pytest.raises(aidjit.ShapeError, match=r"argument p\['w'\] is tensor<3x2xf32>"):
        aidjit.compile(lambda p, x: x @ p["w"], {"w": np.ones((3, 2), F32)}, np.ones((2, 2), F32))


LAYOUTS = {
    "reshape": lambda lab: ops.reshape(lab, (3,)),
    "transpose": lambda lab: ops.reshape(ops.transpose(lab), (3,)),
    "stop_gradient": lambda lab: aidjit.stop_gradient(ops.reshape(lab, (3,))),
    "broadcast_to": lambda lab: ops.broadcast_to(ops.reshape(lab, (1, 3)), (2, 3)),
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("backend", ["c", "interpreter"])
def test_label_check_follows_layout_ops(layout: str, backend: str) -> None:
    def loss(logits, labels):
        moved = LAYOUTS[layout](labels)
        target = logits if moved.ndim == 1 else ops.broadcast_to(logits, (2, 3, 4))
        return ops.cross_entropy(target, moved)

    logits = np.zeros((3, 4), F32)
    good, bad = np.array([[0], [1], [2]]), np.array([[0], [7], [2]])
    with pytest.raises(aidjit.AidjitError, match="labels must lie in"):
        loss(aidjit.Tensor(logits), aidjit.Tensor(bad))
    compiled = aidjit.compile(loss, logits, good, backend=backend)
    assert compiled(logits, good) == pytest.approx(np.log(4), rel=1e-6)
    with pytest.raises(aidjit.ArgumentValueError, match=r"'labels': labels must lie in \[0, 4\)"):
        compiled(logits, bad)


def test_label_check_names_a_pytree_path() -> None:
    def loss(logits, batch):
        return ops.cross_entropy(logits, batch["labels"])

    batch = {"labels": np.array([0, 1, 2])}
    step = aidjit.jit(aidjit.grad(loss))
    step(np.zeros((3, 4), F32), batch)
    with pytest.raises(aidjit.ArgumentValueError, match=r"argument batch\['labels'\]: labels"):
        step(np.zeros((3, 4), F32), {"labels": np.array([0, 4, 2])})


@pytest.mark.parametrize(
    "scale", [2.0, np.float64(2.0), np.float32(2.0), np.float16(2.0), 2, np.int32(2), np.sqrt(4.0)]
)
def test_numpy_scalars_are_weak_eagerly_and_under_jit_alike(scale: Any) -> None:
    """`x / np.sqrt(d)` is everywhere in numpy code: a numpy scalar takes the array's dtype,
    eagerly and as a jit argument (one version for every value of a scalar kind)."""
    x = np.arange(3, dtype=np.float32)
    eager = (aidjit.Tensor(x) * scale).numpy()
    jitted = aidjit.jit(lambda x, s: x * s)
    compiled = jitted(x, scale)
    assert eager.dtype == compiled.dtype == np.float32
    np.testing.assert_array_equal(compiled, eager)
    jitted(x, type(scale)(3))
    assert len(jitted.versions()) == 1


def test_static_argnums_beyond_the_call_is_an_error_not_ignored() -> None:
    jitted = aidjit.jit(lambda x, n=2: x * n, static_argnums=(1, 5))
    with pytest.raises(aidjit.ArgumentCountError, match="static_argnums 5 names a positional"):
        jitted(np.ones(2, F32))
