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

Apart from that knob, aidjit reports to the standard logger ``"aidjit"`` through :func:`log`.
"""

import os
import sys

ENV_VAR = "AIDJIT_DEBUG"
PREFIX = "[aidjit] "
LOGGER = "aidjit"
# logging's levels, named here so that callers need not import logging.
INFO, WARNING, ERROR = 20, 30, 40


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


def log(level: int, message: str, *args: object) -> None:
    """Log ``message % args`` on the ``"aidjit"`` logger, importing `logging` only when needed.

    `logging` and what it imports (traceback, string, their patterns) cost about 4 ms, a tenth of
    ``import aidjit``. A process that never imported `logging` has configured no handler, so an
    info record would be dropped by logging's last-resort handler anyway; warnings and errors
    import it and are shown as usual.
    """
    if level < WARNING and "logging" not in sys.modules:
        return
    import logging

    logging.getLogger(LOGGER).log(level, message, *args)
