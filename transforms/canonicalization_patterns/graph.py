"""Canonicalization patterns of the graph dialect that build new ops (folds cannot).

Identities that return an existing value (`x * 1`, `-(-x)`, a transpose by the identity
permutation, ...) are folds on the ops themselves in `dialects/graph.py`.
"""

from typing import Any

import numpy as np
from xdsl.ir import Operation, SSAValue
from xdsl.pattern_rewriter import PatternRewriter, RewritePattern, op_type_rewrite_pattern
from xdsl.rewriter import InsertPoint

from aidjit.dialects.graph import (
    OP_FOR_PRIMITIVE,
    AddOp,
    BatchNormInferenceOp,
    ConstantOp,
    Conv2dOp,
    PadOp,
    ReshapeOp,
    SliceOp,
    TransposeOp,
    dense_attr,
    int_array,
    spec_of,
)


class ComposeTransposePattern(RewritePattern):
    """transpose(transpose(x, p), q) -> transpose(x, p∘q); dropped later if the identity."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: TransposeOp, rewriter: PatternRewriter) -> None:
        inner = op.input.owner
        if not isinstance(inner, TransposeOp):
            return
        inner_perm = inner.perm.get_values()
        composed = [inner_perm[p] for p in op.perm.get_values()]
        rewriter.replace(
            op,
            TransposeOp.create(
                operands=[inner.input],
                result_types=[op.result.type],
                properties={"perm": int_array(composed)},
            ),
        )


class ComposeReshapePattern(RewritePattern):
    """reshape(reshape(x)) -> reshape(x): only the final shape matters."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: ReshapeOp, rewriter: PatternRewriter) -> None:
        inner = op.input.owner
        if not isinstance(inner, ReshapeOp):
            return
        rewriter.replace(
            op, ReshapeOp.create(operands=[inner.input], result_types=[op.result.type])
        )


class FoldBatchNormIntoConvPattern(RewritePattern):
    """batch_norm_inference(conv2d(x, w) [+ b]) -> conv2d(x, w * s) + (b * s + t).

    With s = weight / sqrt(variance + eps) and t = bias - mean * s per output channel, the
    normalisation is a per-channel scale and shift, and a convolution is linear in its weights:
    scaling output channel f's filter by s[f] scales that channel of the result. The seed's
    Conv+BN fusion: the per-pixel pass over the activations becomes a per-channel pass over the
    weights, and when the weights and statistics are constants (inference with frozen
    parameters) canonicalize folds the new weights and shift into constants. The sums are
    rounded differently (the filter is scaled before the products are summed), as in every
    framework that fuses Conv+BN: the result agrees within float rounding, not bit for bit.

    Applies when the convolution (and the bias addition, if any) has no other user, and the
    bias, if any, is a per-output-channel [1, F, 1, 1] tensor (what `ops.conv2d` adds).
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: BatchNormInferenceOp, rewriter: PatternRewriter) -> None:
        source = op.input.owner
        bias: SSAValue | None = None
        if isinstance(source, AddOp) and _single_use(source.result):
            for conv_side, bias_side in ((source.lhs, source.rhs), (source.rhs, source.lhs)):
                if isinstance(conv_side.owner, Conv2dOp):
                    source, bias = conv_side.owner, bias_side
                    break
        if not isinstance(source, Conv2dOp) or not _single_use(source.result):
            return
        channels = spec_of(source.result.type).shape[1]
        if bias is not None and spec_of(bias.type).shape != (1, channels, 1, 1):
            return
        build = _Builder(rewriter, op)
        dtype = spec_of(op.input.type).dtype
        eps = build.constant(np.array(op.params()["eps"], dtype))
        scale = build("divide", op.weight, build("sqrt", build("add", op.variance, eps)))
        shift = build("subtract", op.bias, build("multiply", op.mean, scale))
        if bias is not None:
            per_channel = build("reshape", bias, shape=(channels,))
            shift = build("add", build("multiply", per_channel, scale), shift)
        filters = build("reshape", scale, shape=(channels, 1, 1, 1))
        weight = build("multiply", source.weight, filters)
        conv = build("conv2d", source.input, weight, **source.params())
        result = build("add", conv, build("reshape", shift, shape=(1, channels, 1, 1)))
        rewriter.replace(op, [], [result])


class SliceOfConvPattern(RewritePattern):
    """slice(conv2d(x, w)) -> conv2d(slice(x), w), for a unit-stride slice of the spatial axes.

    Output position y of a convolution reads input rows y * stride .. y * stride + (kH - 1) *
    dilation, so a window of its output is the convolution of a window of its input. The case
    that matters: the gradient of a padded convolution computes the input gradient over the
    padded input, and the pad's gradient then cuts the border off (W5's conv2: 18x18 computed,
    16x16 kept, 21% of that convolution's work). With `SliceOfPadPattern` the cut reaches the
    padding of the cotangent, and only the kept positions are computed.

    Applies when the convolution has no other user and the slice keeps every batch and channel.
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: SliceOp, rewriter: PatternRewriter) -> None:
        conv = op.input.owner
        if not isinstance(conv, Conv2dOp) or not _single_use(conv.result):
            return
        params = op.params()
        full = spec_of(conv.result.type).shape
        if any(stride != 1 for stride in params["strides"]) or any(params["start"][:2]):
            return
        if tuple(params["shape"][:2]) != tuple(full[:2]):
            return
        conv_params = conv.params()
        kernel = spec_of(conv.weight.type).shape[2:]
        start, shape = [0, 0], list(spec_of(conv.input.type).shape[:2])
        for axis in range(2):
            stride, dilation = conv_params["stride"][axis], conv_params["dilation"][axis]
            start.append(params["start"][2 + axis] * stride)
            reach = (kernel[axis] - 1) * dilation + 1
            shape.append((params["shape"][2 + axis] - 1) * stride + reach)
        build = _Builder(rewriter, op)
        window = build(
            "slice", conv.input, start=tuple(start), strides=(1, 1, 1, 1), shape=tuple(shape)
        )
        rewriter.replace(op, [], [build("conv2d", window, conv.weight, **conv_params)])


class SliceOfPadPattern(RewritePattern):
    """slice(pad(x)) -> pad(x) with less padding, when the unit-stride slice keeps all of x.

    The window [start, start + size) of each padded axis covers x's elements [low, low + n),
    so the slice only trims padding: low - start before and start + size - low - n after.
    Interior padding is left alone."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: SliceOp, rewriter: PatternRewriter) -> None:
        pad = op.input.owner
        if not isinstance(pad, PadOp) or not _single_use(pad.result):
            return
        params, pad_params = op.params(), pad.params()
        if any(pad_params["interior"]) or any(stride != 1 for stride in params["strides"]):
            return
        extents = spec_of(pad.input.type).shape
        low, high = [], []
        for first, size, before, extent in zip(
            params["start"], params["shape"], pad_params["low"], extents, strict=True
        ):
            if first > before or first + size < before + extent:
                return
            low.append(before - first)
            high.append(first + size - before - extent)
        build = _Builder(rewriter, op)
        trimmed = build(
            "pad",
            pad.input,
            low=tuple(low),
            high=tuple(high),
            interior=pad_params["interior"],
            value=pad_params["value"],
        )
        rewriter.replace(op, [], [trimmed])


def _single_use(value: SSAValue) -> bool:
    return value.has_one_use()


class _Builder:
    """Builds graph ops of given primitives before `anchor`, result types inferred by the
    primitives' shape rules (as tracing builds them)."""

    def __init__(self, rewriter: PatternRewriter, anchor: Operation) -> None:
        self.rewriter = rewriter
        self.anchor = anchor

    def __call__(self, name: str, *operands: SSAValue, **params: Any) -> SSAValue:
        op_class = OP_FOR_PRIMITIVE[name]
        specs = [spec_of(operand.type) for operand in operands]
        result = op_class.primitive().infer(specs, params)
        return self.insert(op_class.build_from(operands, params, result))

    def constant(self, value: np.ndarray) -> SSAValue:
        return self.insert(ConstantOp(dense_attr(value)))

    def insert(self, op: Operation) -> SSAValue:
        self.rewriter.insert(op, InsertPoint.before(self.anchor))
        return op.results[0]
