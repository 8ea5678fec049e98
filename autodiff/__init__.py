"""Eager, numpy-backed tensors with a gradient tape; knows nothing of xDSL or C."""

from aidjit.autodiff import ops
from aidjit.autodiff.grad import grad, value_and_grad
from aidjit.autodiff.tape import GradientTape, stop_gradient
from aidjit.autodiff.tensor import Tensor

__all__ = ["GradientTape", "Tensor", "grad", "ops", "stop_gradient", "value_and_grad"]
