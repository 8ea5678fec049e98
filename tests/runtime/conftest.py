"""Fixtures for the runtime tests: an isolated cache directory, a toolchain, C helpers.

The toolchain, cache and loader tests examine the cache itself, so they opt into
``isolated_cache`` (a fresh AIDJIT_CACHE_DIR per test); other runtime tests keep the shared
directory that tests/conftest.py sets up.
"""

from collections.abc import Callable
from pathlib import Path

import pytest

from aidjit.runtime.cache import build, clear_memory_cache
from aidjit.runtime.toolchain import Toolchain, find_toolchain


@pytest.fixture
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point AIDJIT_CACHE_DIR at a fresh directory so no test touches ~/.cache."""
    directory = tmp_path / "cache"
    monkeypatch.setenv("AIDJIT_CACHE_DIR", str(directory))
    monkeypatch.delenv("AIDJIT_DEBUG", raising=False)
    clear_memory_cache()
    return directory


@pytest.fixture
def toolchain() -> Toolchain:
    return find_toolchain()


@pytest.fixture
def compile_c(isolated_cache: Path, toolchain: Toolchain) -> Callable[[str], Path]:
    """Return a function building C source through the cache, giving the shared object's path."""

    def compile_source(source: str) -> Path:
        return build(source, toolchain).path

    return compile_source


@pytest.fixture
def make_script(tmp_path: Path) -> Callable[[str, str], Path]:
    """Return a function writing an executable shell script (a fake or wrapping compiler)."""

    def write(name: str, body: str) -> Path:
        path = tmp_path / name
        path.write_text(f"#!/bin/sh\n{body}")
        path.chmod(0o755)
        return path

    return write
