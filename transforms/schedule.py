"""Reordering the ops of a block while keeping it valid SSA."""

from __future__ import annotations

import heapq

from xdsl.ir import Block, Operation


def sort_topologically(block: Block) -> None:
    """Reorder `block` so every op follows the producers of its operands, keeping the current
    order wherever it is already valid (Kahn's algorithm, ties broken by position). The
    terminator stays last."""
    ops = list(block.ops)
    position = {op: index for index, op in enumerate(ops)}
    waiting: dict[Operation, int] = {}
    users: dict[Operation, list[Operation]] = {op: [] for op in ops}
    for op in ops:
        producers = {
            operand.owner
            for nested in op.walk()
            for operand in nested.operands
            if isinstance(operand.owner, Operation) and operand.owner in position
        }
        producers.discard(op)
        waiting[op] = len(producers)
        for producer in producers:
            users[producer].append(op)
    ready = [(position[op], op) for op in ops if waiting[op] == 0]
    heapq.heapify(ready)
    order: list[Operation] = []
    while ready:
        _, op = heapq.heappop(ready)
        order.append(op)
        for user in users[op]:
            waiting[user] -= 1
            if waiting[user] == 0:
                heapq.heappush(ready, (position[user], user))
    assert len(order) == len(ops), "a cycle in an SSA block"
    for op in order:
        op.detach()
        block.add_op(op)
