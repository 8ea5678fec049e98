"""Lowering of graph.random_bits: the Threefry-2x32 cipher in the body of a parallel generic.

Every element is the cipher of its own flat index, so the op is a `linalg.generic` over the
result with no input: the body computes the row-major index from `linalg.index`, reads the
two key words with `tensor.extract` (the key captured from above, as a gather reads its
source) and runs the cipher of `aidjit.autodiff.ops.random.threefry2x32` — the same Python
function the numpy forward runs — on i64 `arith` values:

    %bits = graph.random_bits %key : tensor<2xi64> -> tensor<3x5xi64>
        ==>
    %bits = linalg.generic {indexing_maps = [(d0, d1) -> (d0, d1)],
                            iterator_types = ["parallel", "parallel"]}
              outs(%e : tensor<3x5xi64>) {
            ^bb0(%out: i64):
              %i = <d0 * 5 + d1 as i64>; %hi = arith.shrsi %i, 32; %lo = arith.andi %i, 0xffffffff
              %k0 = tensor.extract %key[0]; %k1 = tensor.extract %key[1]
              <20 rounds of arith.addi + andi, shli + shrsi + ori + andi, xori>
              %r = arith.xori %x0, %x1 : i64
              linalg.yield %r : i64
            } -> tensor<3x5xi64>

Words are 32-bit values held in i64 and masked to 32 bits after each add and left shift, so
every op is one the C emitter and the loop interpreter already run (no unsigned shift: a
non-negative value's arithmetic shift is the logical one), and numpy's uint64 forward
computes the same bits by construction. About 130 integer ops per element; nothing fuses
into the cipher, but the elementwise ops that consume the bits (uniform's scaling, dropout's
mask) fuse after it.
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects import arith, tensor
from xdsl.dialects.builtin import IndexType, TensorType, i64
from xdsl.dialects.linalg import ops as linalg
from xdsl.ir import Operation, SSAValue

from aidjit.autodiff.ops.random import WORD_MASK, threefry2x32
from aidjit.dialects import graph
from aidjit.lowering.structured import (
    PARALLEL,
    build_generic,
    empty_tensor,
    identity_map,
    scalar_constant,
)


class ArithWords:
    """32-bit words as i64 SSA values below 2**32, built at the current insertion point (the
    generic's body); one `arith.constant` per distinct value."""

    def __init__(self) -> None:
        self.constants: dict[int, SSAValue] = {}

    def constant(self, value: int) -> SSAValue:
        if value not in self.constants:
            self.constants[value] = scalar_constant(value, i64)
        return self.constants[value]

    def mask(self, a: SSAValue) -> SSAValue:
        return arith.AndIOp(a, self.constant(WORD_MASK)).result

    def add(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.mask(arith.AddiOp(a, b).result)

    def xor(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return arith.XOrIOp(a, b).result

    def rotate_left(self, a: SSAValue, distance: int) -> SSAValue:
        high = self.mask(arith.ShLIOp(a, self.constant(distance)).result)
        return arith.OrIOp(high, arith.ShRSIOp(a, self.constant(32 - distance)).result).result


def _flat_index(words: ArithWords, shape: Sequence[int]) -> SSAValue:
    """The row-major index of the current loop point, as i64 (0 for a rank-0 result)."""
    flat = words.constant(0)
    for d, size in enumerate(shape):
        position = arith.IndexCastOp(linalg.IndexOp(d).result, i64).result
        scaled = arith.MuliOp(flat, words.constant(size)).result if d else flat
        flat = arith.AddiOp(scaled, position).result if d else position
    return flat


def lower_random_bits(op: Operation, operands: Sequence[SSAValue]) -> SSAValue:
    assert isinstance(op, graph.RandomBitsOp)
    (key,) = operands
    params = op.params()
    result_type: TensorType = op.result.type
    shape = tuple(result_type.get_shape())

    def body(args: Sequence[SSAValue]) -> list[SSAValue]:
        words = ArithWords()
        # Only the low 32 bits of a key word count, as in the numpy forward.
        k0, k1 = (
            words.mask(tensor.ExtractOp(key, [scalar_constant(k, IndexType())], i64).result)
            for k in range(2)
        )
        flat = _flat_index(words, shape)
        high = arith.ShRSIOp(flat, words.constant(32)).result
        counter = (words.add(high, words.constant(params["stream"])), words.mask(flat))
        x0, x1 = threefry2x32(words, (k0, k1), counter)
        return [words.xor(x0, x1)]

    rank = len(shape)
    output = [empty_tensor(result_type)]
    generic = build_generic([], [], output, [identity_map(rank)], [PARALLEL] * rank, body)
    return generic.results[0]
