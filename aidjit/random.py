"""aidjit.random: explicit-key random numbers, as jax.random.

    key = aidjit.random.key(0)
    key, sub = aidjit.random.split(key)
    noise = aidjit.random.uniform(sub, (8, 16))

A key is an int64 array of shape (2,); every function is pure in it (the same key gives the
same numbers, eagerly and in compiled code, where the key is an ordinary argument) and
traceable. The generator is Threefry-2x32-20 over each element's index
(`aidjit.autodiff.ops.random`); as in JAX, a key that has been split is not drawn from again.
"""

from aidjit.autodiff.ops.random import bits, key, split, uniform

__all__ = ["bits", "key", "split", "uniform"]
