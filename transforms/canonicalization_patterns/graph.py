"""Canonicalization patterns of the graph dialect that build new ops (folds cannot).

Identities that return an existing value (`x * 1`, `-(-x)`, a transpose by the identity
permutation, ...) are folds on the ops themselves in `dialects/graph.py`.
"""

from xdsl.pattern_rewriter import PatternRewriter, RewritePattern, op_type_rewrite_pattern

from aidjit.dialects.graph import ReshapeOp, TransposeOp, int_array


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
