"""The one debug knob: ``AIDJIT_DEBUG=N`` makes aidjit explain itself on stderr.

Every module reports through :func:`debug_log` so there is a single switch, a single prefix and a
single destination. Levels are cumulative (``N`` prints everything at levels ``<= N``):

=====  ================================================================
level  what is printed
=====  ================================================================
0      nothing (the default)
1      pass timings
2      the IR after each pass
3      the generated C source and the compiler command line
4      build-cache hits and misses
=====  ================================================================

The variable is read on every call (an environment lookup, well under a microsecond) so tests and
notebooks can change it without re-importing anything. A value that is not an integer counts as 0:
a typo in a debug switch must never break a program. Callers whose message is expensive to build
(printing IR, say) should check ``debug_level() >= level`` before building it.
"""

import os
import sys

ENV_VAR = "AIDJIT_DEBUG"
PREFIX = "[aidjit] "


def debug_level() -> int:
    """Return the current ``AIDJIT_DEBUG`` level (0 when unset or not an integer)."""
    try:
        return int(os.environ.get(ENV_VAR, "0"))
    except ValueError:
        return 0


def debug_log(level: int, message: str) -> None:
    """Print ``message`` to stderr, prefixed ``[aidjit] ``, when the debug level is >= ``level``."""
    if debug_level() < level:
        return
    print(f"{PREFIX}{message}", file=sys.stderr)
