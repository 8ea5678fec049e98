"""aidjit.ops: every operation, one module per family, each op defined once.

A family module defines its primitives (numpy forward, shape rule and gradient side by side) and
its composites (built from primitives, with no rule of their own), and lists its public names in
`__all__`; this package re-exports them all, so `aidjit.ops.<name>` is every op whatever its
family. Gradient rules are written with these public functions, so backward graphs use the same
primitives as forward ones.
"""

from aidjit.autodiff.ops.conv import *  # noqa: F403
from aidjit.autodiff.ops.core import *  # noqa: F403 - each family's __all__ is its public list
from aidjit.autodiff.ops.elementwise import *  # noqa: F403
from aidjit.autodiff.ops.indexing import *  # noqa: F403
from aidjit.autodiff.ops.normalization import *  # noqa: F403
from aidjit.autodiff.ops.pooling import *  # noqa: F403
from aidjit.autodiff.ops.random import *  # noqa: F403
from aidjit.autodiff.ops.shape import *  # noqa: F403
from aidjit.autodiff.ops.spatial import *  # noqa: F403
from aidjit.autodiff.ops.statistics import *  # noqa: F403
