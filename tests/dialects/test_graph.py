"""The graph dialect from Python: building, verifying, folding, attribute conversions."""

import numpy as np
import pytest
from xdsl.builder import ImplicitBuilder
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.utils.exceptions import VerifyException

from aidjit.autodiff.primitives import Spec
from aidjit.context import make_context
from aidjit.dialects import graph
from aidjit.pipeline import run_pipeline

F32 = np.dtype(np.float32)


def build(specs, body) -> ModuleOp:
    types = [graph.tensor_type(s) for s in specs]
    function = func.FuncOp("f", (types, []))
    with ImplicitBuilder(function.body) as args:
        results = body(*args)
        func.ReturnOp(*results)
    function.function_type = func.FunctionType.from_lists(types, [r.type for r in results])
    return ModuleOp([function])


@pytest.mark.parametrize(
    "array",
    [
        np.arange(6, dtype=np.float32).reshape(2, 3),
        np.full((3, 4), -0.0, dtype=np.float64),
        np.array(2.5, dtype=np.float32),
        np.array([1, -2, 3], dtype=np.int64),
        np.array([np.nan, np.nan], dtype=np.float32),
    ],
)
def test_dense_attributes_round_trip(array: np.ndarray) -> None:
    back = graph.dense_to_numpy(graph.dense_attr(array))
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)
    np.testing.assert_array_equal(np.signbit(back), np.signbit(array))


def test_splats_store_one_element() -> None:
    attr = graph.dense_attr(np.ones((100, 100), np.float32))
    assert len(attr.data.data) == 4
    assert graph.splat_value(attr) == 1.0
    assert graph.splat_value(graph.dense_attr(np.arange(3.0))) is None


def nan_with_payload(payload: int) -> np.float32:
    return np.array([0x7FC00000 | payload], np.uint32).view(np.float32)[0]


@pytest.mark.parametrize(
    "array",
    [
        np.array([-0.0, 0.0, 0.0], np.float32),
        np.array([0.0, -0.0], np.float64),
        np.array([nan_with_payload(1), nan_with_payload(2)], np.float32),
    ],
    ids=["negative-zero-first", "negative-zero-last", "nan-payloads"],
)
def test_values_equal_under_eq_but_not_in_bits_are_no_splat(array: np.ndarray) -> None:
    attr = graph.dense_attr(array)
    assert len(attr.data.data) == array.nbytes
    assert graph.splat_value(attr) is None
    assert graph.dense_to_numpy(attr).tobytes() == array.tobytes()
    # xDSL's printer asks `is_splat` too: a printed constant must parse back to the same bits.
    assert not attr.is_splat()
    assert "dense<[" in str(attr)


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (np.full(3, -0.0, np.float32), -0.0),
        (np.zeros(3, np.int64), 0),
        (np.full(2, 2**60 + 1, np.int64), 2**60 + 1),
        (np.full(4, np.nan), np.nan),
    ],
)
def test_splat_value_keeps_type_and_sign(array: np.ndarray, expected: float) -> None:
    attr = graph.dense_attr(array)
    assert len(attr.data.data) == array.itemsize
    assert attr.is_splat()
    value = graph.splat_value(attr)
    assert type(value) is type(expected)
    assert np.array(value).tobytes() == np.array(expected).tobytes()


def test_build_from_params_and_back() -> None:
    x = Spec((4, 3), F32)
    module = build(
        [x],
        lambda a: [
            graph.SumOp.build_from([a], {"axes": (1,), "keepdims": True}, Spec((4, 1), F32)).result
        ],
    )
    module.verify()
    op = next(o for o in module.walk() if isinstance(o, graph.SumOp))
    assert op.params() == {"axes": (1,), "keepdims": True}
    assert "keepdims" in str(op)


def test_verifier_names_op_and_types() -> None:
    module = build(
        [Spec((4,), F32), Spec((3,), F32)],
        lambda a, b: [graph.AddOp.build_from([a, b], {}, Spec((4,), F32)).result],
    )
    with pytest.raises(
        VerifyException, match=r"graph.add: operands tensor<4xf32> and tensor<3xf32>"
    ):
        module.verify()


def test_constant_folding_uses_the_numpy_forward() -> None:
    def body(x):
        c = graph.ConstantOp.from_numpy(np.array([1.0, 4.0], np.float32)).result
        root = graph.SqrtOp(c).result
        return [graph.AddOp.build_from([x, root], {}, Spec((2,), F32)).result]

    module = build([Spec((2,), F32)], body)
    run_pipeline(make_context(), module, "canonicalize")
    constants = [o for o in module.walk() if isinstance(o, graph.ConstantOp)]
    assert len(constants) == 1
    np.testing.assert_array_equal(graph.dense_to_numpy(constants[0].value), [1.0, 2.0])
    assert not any(isinstance(o, graph.SqrtOp) for o in module.walk())


def test_folding_never_creates_huge_constants(monkeypatch) -> None:
    monkeypatch.setattr(graph, "FOLD_LIMIT", 10)

    def body(x):
        c = graph.ConstantOp.from_numpy(np.arange(12, dtype=np.float32)).result
        return [graph.ExpOp(c).result]

    module = build([Spec((2,), F32)], body)
    run_pipeline(make_context(), module, "canonicalize")
    assert any(isinstance(o, graph.ExpOp) for o in module.walk())


def test_every_primitive_has_an_op() -> None:
    from aidjit.autodiff.primitives import all_primitives

    assert set(all_primitives()) == set(graph.OP_FOR_PRIMITIVE)
