"""The fuzz run's two profiles: quick by default, long only when `-m fuzz` selects it.

`pytest` runs the quick profile (a fixed list of seeds, spread over workers by xdist).
`pytest -m fuzz --fuzz-count N [--fuzz-start S]` runs N programs from seed S instead; without
`-m` the long run's items are deselected (tests/conftest.py, `OPT_IN_MARKERS`).
"""

import pytest


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "fuzz_seed" in metafunc.fixturenames:
        start = metafunc.config.getoption("--fuzz-start")
        count = metafunc.config.getoption("--fuzz-count")
        metafunc.parametrize("fuzz_seed", range(start, start + count))
