"""The build cache: keys, memory/disk/miss, other processes, damaged entries, concurrency."""

import dataclasses
import errno
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import aidjit
from aidjit import CacheError
from aidjit.errors import CompilationError
from aidjit.runtime import cache
from aidjit.runtime.cache import build, cache_key, clear_memory_cache
from aidjit.runtime.loader import ArgSpec, NativeFunction
from aidjit.runtime.toolchain import Toolchain, find_toolchain

pytestmark = pytest.mark.usefixtures("isolated_cache")

ADD_SOURCE = """\
#include <stdint.h>
void add(const float *a, const float *b, float *out) {
  for (int64_t i = 0; i < 4; i++) out[i] = a[i] + b[i];
}
"""
ADD_PROTOTYPE = "void add(const float *a, const float *b, float *out)"

# Run in a fresh interpreter: builds ADD_SOURCE (given as argv[1]) with the default toolchain and
# prints how the cache answered. AIDJIT_CACHE_DIR and CC come from the inherited environment.
# No toolchain self-test: its compiles would run through the counting compiler too.
BUILD_SCRIPT = """\
import json, sys
from aidjit.runtime.cache import build
from aidjit.runtime.toolchain import find_toolchain
result = build(sys.argv[1], find_toolchain(self_test=False))
print(json.dumps({"hit": result.hit, "path": str(result.path)}))
"""


def run_add(so_path: Path) -> np.ndarray:
    spec = ArgSpec("a", (4,), np.dtype(np.float32))
    add = NativeFunction(
        so_path,
        "add",
        ADD_PROTOTYPE,
        [spec, dataclasses.replace(spec, name="b")],
        [dataclasses.replace(spec, name="out")],
    )
    a = np.arange(4, dtype=np.float32)
    (out,) = add(a, a)
    return out


def build_in_subprocess(source: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", BUILD_SCRIPT, source],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> dict[str, str]:
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    return json.loads(stdout)


def leftovers(directory: Path) -> list[Path]:
    return [path for path in directory.rglob("*") if ".tmp" in path.name]


def test_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIDJIT_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert cache.cache_dir() == tmp_path / "elsewhere"
    assert (tmp_path / "elsewhere").is_dir()  # created on first use
    monkeypatch.delenv("AIDJIT_CACHE_DIR")
    assert cache.configured_cache_dir() == Path.home() / ".cache" / "aidjit"


def test_key_covers_source_flags_version_and_cache_version(
    toolchain: Toolchain, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = cache_key(ADD_SOURCE, toolchain)
    assert key == cache_key(ADD_SOURCE, toolchain)
    assert len(key) == 64
    variants = [
        cache_key(ADD_SOURCE + "\n", toolchain),
        cache_key(ADD_SOURCE, find_toolchain(cflags=["-O2"])),
        cache_key(ADD_SOURCE, dataclasses.replace(toolchain, version="gcc 99")),
        cache_key(ADD_SOURCE, dataclasses.replace(toolchain, ldflags=("-lm",))),
    ]
    monkeypatch.setattr(cache, "CACHE_VERSION", "test")
    variants.append(cache_key(ADD_SOURCE, toolchain))
    assert len({key, *variants}) == len(variants) + 1


def test_miss_then_memory_hit_then_disk_hit_in_another_process(
    toolchain: Toolchain, isolated_cache: Path
) -> None:
    first = build(ADD_SOURCE, toolchain)
    assert first.hit == "miss"
    assert first.path == isolated_cache / first.key[:2] / f"{first.key}.so"
    assert first.path.with_suffix(".c").read_text() == ADD_SOURCE
    assert first.path.with_suffix(".sha256").is_file()
    assert build(ADD_SOURCE, toolchain) == dataclasses.replace(first, hit="memory")
    other = finish(build_in_subprocess(ADD_SOURCE))
    assert other == {"hit": "disk", "path": str(first.path)}
    np.testing.assert_array_equal(run_add(first.path), [0, 2, 4, 6])
    assert leftovers(isolated_cache) == []


def test_disk_hit_after_the_memory_cache_is_cleared(toolchain: Toolchain) -> None:
    first = build(ADD_SOURCE, toolchain)
    clear_memory_cache()
    assert build(ADD_SOURCE, toolchain) == dataclasses.replace(first, hit="disk")


def test_moving_the_cache_directory_never_serves_the_old_path(
    toolchain: Toolchain, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    first = build(ADD_SOURCE, toolchain)
    monkeypatch.setenv("AIDJIT_CACHE_DIR", str(tmp_path / "moved"))
    second = build(ADD_SOURCE, toolchain)
    assert second.hit == "miss"
    assert second.path.is_relative_to(tmp_path / "moved")
    assert second.key == first.key


def garbage(so_path: Path) -> None:
    so_path.write_bytes(b"not an ELF file\n" * 64)


def truncate(so_path: Path) -> None:
    so_path.write_bytes(so_path.read_bytes()[:100])


def lose_digest(so_path: Path) -> None:
    so_path.with_suffix(".sha256").unlink()


def garbage_with_matching_digest(so_path: Path) -> None:
    garbage(so_path)
    digest = hashlib.sha256(so_path.read_bytes()).hexdigest()
    so_path.with_suffix(".sha256").write_text(digest)


@pytest.mark.parametrize("damage", [garbage, truncate, lose_digest, garbage_with_matching_digest])
def test_damaged_entry_is_rebuilt_not_loaded(
    toolchain: Toolchain, damage: Callable[[Path], None]
) -> None:
    first = build(ADD_SOURCE, toolchain)
    damage(first.path)
    clear_memory_cache()
    rebuilt = build(ADD_SOURCE, toolchain)
    assert rebuilt == dataclasses.replace(first, hit="miss")
    np.testing.assert_array_equal(run_add(rebuilt.path), [0, 2, 4, 6])


def test_deleted_entry_is_rebuilt_even_after_a_memory_hit(toolchain: Toolchain) -> None:
    first = build(ADD_SOURCE, toolchain)
    first.path.unlink()
    assert build(ADD_SOURCE, toolchain).hit == "miss"


def test_compilation_error_names_the_cached_c_file(
    toolchain: Toolchain, isolated_cache: Path
) -> None:
    source = "int f(void) { return undeclared_thing; }\n"
    with pytest.raises(CompilationError, match="undeclared_thing") as caught:
        build(source, toolchain)
    c_path = isolated_cache / cache_key(source, toolchain)[:2] / f"{cache_key(source, toolchain)}.c"
    assert str(c_path) in str(caught.value)
    assert c_path.read_text() == source
    assert not c_path.with_suffix(".so").exists()
    assert leftovers(isolated_cache) == []


def test_concurrent_builds_of_one_key_compile_once(
    monkeypatch: pytest.MonkeyPatch,
    make_script: Callable[[str, str], Path],
    tmp_path: Path,
    isolated_cache: Path,
) -> None:
    # A compiler slow enough that both processes are waiting on the same key at once.
    log = tmp_path / "compiles.log"
    slow_cc = make_script(
        "slow-cc",
        'case "$1" in\n'
        "  --version|-print-file-name=*) ;;\n"
        f"  *) echo compile >> {log}; sleep 1 ;;\n"
        "esac\n"
        f'exec {shutil.which("cc")} "$@"\n',
    )
    monkeypatch.setenv("CC", str(slow_cc))
    processes = [build_in_subprocess(ADD_SOURCE) for _ in range(2)]
    results = [finish(process) for process in processes]
    assert sorted(result["hit"] for result in results) == ["disk", "miss"]
    assert results[0]["path"] == results[1]["path"]
    assert log.read_text().splitlines() == ["compile"]
    np.testing.assert_array_equal(run_add(Path(results[0]["path"])), [0, 2, 4, 6])
    assert leftovers(isolated_cache) == []


def test_hits_and_misses_are_logged_at_debug_level_4(
    toolchain: Toolchain, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AIDJIT_DEBUG", "4")
    build(ADD_SOURCE, toolchain)
    build(ADD_SOURCE, toolchain)
    err = capsys.readouterr().err
    assert "[aidjit] cache miss" in err
    assert "[aidjit] cache hit (memory)" in err
    assert "void add(" in err  # the C source, from level 3


# --- environment faults: an unusable cache directory --------------------------------------------


def assert_builds_in_a_fallback(configured: Path, toolchain: Toolchain) -> Path:
    """Build ADD_SOURCE, expecting one warning naming `configured`; return where it went."""
    with pytest.warns(RuntimeWarning, match=re.escape(str(configured))) as caught:
        result = build(ADD_SOURCE, toolchain)
    (warning,) = caught
    assert "private temporary directory" in str(warning.message)
    assert not result.path.is_relative_to(configured)
    np.testing.assert_array_equal(run_add(result.path), [0, 2, 4, 6])
    return result.path.parent.parent


@pytest.fixture
def cache_under_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """AIDJIT_CACHE_DIR set to a path below a regular file: it can never be created."""
    (tmp_path / "a-file").write_text("not a directory")
    configured = tmp_path / "a-file" / "cache"
    monkeypatch.setenv("AIDJIT_CACHE_DIR", str(configured))
    return configured


def test_cache_dir_under_a_regular_file_falls_back_with_a_warning(
    cache_under_a_file: Path, toolchain: Toolchain
) -> None:
    fallback = assert_builds_in_a_fallback(cache_under_a_file, toolchain)
    assert cache.cache_dir() == fallback  # decided once per process: no second warning
    assert build(ADD_SOURCE, toolchain).hit == "memory"


def test_unwritable_cache_dir_falls_back_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, toolchain: Toolchain
) -> None:
    # Tests run as root, for whom permission bits do not deny anything: refuse in mkdir instead.
    configured = tmp_path / "read-only"
    real_mkdir = Path.mkdir

    def refuse(path: Path, *args: object, **kwargs: object) -> None:
        if path.is_relative_to(configured):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        real_mkdir(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "mkdir", refuse)
    monkeypatch.setenv("AIDJIT_CACHE_DIR", str(configured))
    assert_builds_in_a_fallback(configured, toolchain)


def test_a_full_disk_while_writing_an_entry_falls_back(
    monkeypatch: pytest.MonkeyPatch, isolated_cache: Path, toolchain: Toolchain
) -> None:
    real_write = cache._write_atomically

    def disk_full(path: Path, data: bytes) -> None:
        if path.is_relative_to(isolated_cache):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real_write(path, data)

    monkeypatch.setattr(cache, "_write_atomically", disk_full)
    assert cache.cache_dir() == isolated_cache  # usable at first: the disk fills up later
    assert_builds_in_a_fallback(isolated_cache, toolchain)


def test_when_the_fallback_fails_too_a_cache_error_names_both(
    monkeypatch: pytest.MonkeyPatch, cache_under_a_file: Path, toolchain: Toolchain
) -> None:

    def no_temporary_directory(*args: object, **kwargs: object) -> str:
        raise OSError(errno.ENOSPC, "No space left on device", "/tmp")

    monkeypatch.setattr(tempfile, "mkdtemp", no_temporary_directory)
    with pytest.raises(CacheError) as caught:
        build(ADD_SOURCE, toolchain)
    message = str(caught.value)
    assert str(cache_under_a_file) in message and "AIDJIT_CACHE_DIR" in message
    assert "Not a directory" in message and "No space left on device" in message


def test_a_fallback_that_breaks_as_well_is_a_cache_error(
    monkeypatch: pytest.MonkeyPatch, cache_under_a_file: Path, toolchain: Toolchain
) -> None:
    def disk_full(path: Path, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(cache, "_write_atomically", disk_full)
    with pytest.warns(RuntimeWarning), pytest.raises(CacheError, match="private temporary"):
        build(ADD_SOURCE, toolchain)


def test_compile_with_an_unusable_cache_dir_still_works(cache_under_a_file: Path) -> None:
    x = np.arange(3, dtype=np.float32)
    with pytest.warns(RuntimeWarning, match=re.escape(str(cache_under_a_file))):
        compiled = aidjit.compile(lambda v: v * 2.0, x)
    np.testing.assert_array_equal(compiled(x), x * 2)
