"""The fuzz run's two profiles: quick by default, long only when `-m fuzz` selects it.

`pytest` runs the quick profile (a fixed list of seeds, spread over workers by xdist).
`pytest -m fuzz --fuzz-count N [--fuzz-start S]` runs N programs from seed S instead; without
`-m` the long run's items are deselected, as a `slow` marker is in most projects.
"""

import pytest


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "fuzz_seed" in metafunc.fixturenames:
        start = metafunc.config.getoption("--fuzz-start")
        count = metafunc.config.getoption("--fuzz-count")
        metafunc.parametrize("fuzz_seed", range(start, start + count))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("markexpr"):
        return  # an explicit -m decides: `-m fuzz` keeps the long run, `-m "not fuzz"` drops it
    long_run = [item for item in items if item.get_closest_marker("fuzz")]
    if long_run:
        config.hook.pytest_deselected(items=long_run)
        items[:] = [item for item in items if not item.get_closest_marker("fuzz")]
