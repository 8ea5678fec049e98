"""Finding the C compiler, the flags it gets, and how its failures are reported."""

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from aidjit.errors import CompilationError, CompilerNotFoundError
from aidjit.runtime.loader import ArgSpec, NativeFunction
from aidjit.runtime.toolchain import (
    DEFAULT_CFLAGS,
    Toolchain,
    compile_shared,
    find_toolchain,
)

pytestmark = pytest.mark.usefixtures("isolated_cache")

GCC = shutil.which("gcc")
needs_gcc = pytest.mark.skipif(GCC is None, reason="gcc not installed")

SIMD_EXP_SOURCE = """\
#include <stdint.h>
#pragma omp declare simd notinbranch simdlen(16)
extern float expf(float);
void vexp(const float *x, float *y) {
#pragma omp simd simdlen(16)
  for (int64_t i = 0; i < 1000; i++) y[i] = expf(x[i]);
}
"""


def write_c(directory: Path, source: str, name: str = "kernel.c") -> Path:
    path = directory / name
    path.write_text(source)
    return path


def test_default_compiler_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CC", raising=False)
    toolchain = find_toolchain()
    assert Path(toolchain.cc).is_absolute()
    assert Path(toolchain.cc).is_file()
    assert toolchain.version and toolchain.version != "unknown"
    assert toolchain.cflags == DEFAULT_CFLAGS
    assert toolchain.ldflags[-1] == "-lm"


def test_default_flags_never_trade_accuracy_for_speed() -> None:
    assert "-ffast-math" not in DEFAULT_CFLAGS
    assert {"-O3", "-march=native", "-fPIC", "-shared", "-fopenmp-simd"} <= set(DEFAULT_CFLAGS)


def test_cc_environment_variable_is_honoured(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    make_script: Callable[[str, str], Path],
) -> None:
    log = tmp_path / "calls.log"
    wrapper = make_script("my-cc", f'echo "$@" >> {log}\nexec {shutil.which("cc")} "$@"\n')
    monkeypatch.setenv("CC", str(wrapper))
    toolchain = find_toolchain()
    assert toolchain.cc == str(wrapper)
    compile_shared(toolchain, write_c(tmp_path, "int f(void) { return 1; }\n"), tmp_path / "f.so")
    assert "kernel.c" in log.read_text()


@needs_gcc
def test_cc_environment_variable_may_be_a_bare_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CC", "gcc")
    assert find_toolchain().cc == GCC


@needs_gcc
def test_cc_argument_wins_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CC", "no-such-compiler-from-env")
    assert find_toolchain(cc="gcc").cc == GCC


def test_missing_explicit_compiler_is_an_error_not_a_fallback() -> None:
    with pytest.raises(CompilerNotFoundError, match="no-such-compiler") as caught:
        find_toolchain(cc="no-such-compiler")
    assert "apt-get install gcc" in str(caught.value)
    assert "CC=" in str(caught.value)


def test_missing_cc_from_environment_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CC", "no-such-compiler-from-env")
    with pytest.raises(CompilerNotFoundError, match=r"\$CC='no-such-compiler-from-env'"):
        find_toolchain()


def test_no_compiler_on_path_says_what_was_tried(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(CompilerNotFoundError) as caught:
        find_toolchain()
    message = str(caught.value)
    for name in ("'cc'", "'gcc'", "'clang'", "apt-get install gcc"):
        assert name in message


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (["-O1"], ("-O1", "-fPIC", "-shared")),
        (["-shared", "-O2"], ("-shared", "-O2", "-fPIC")),
        (["-fPIC", "-shared", "-O0"], ("-fPIC", "-shared", "-O0")),
    ],
)
def test_given_cflags_replace_defaults_but_keep_shared_pic(
    given: list[str], expected: tuple[str, ...]
) -> None:
    assert find_toolchain(cflags=given).cflags == expected


def test_command_puts_libraries_after_the_source(toolchain: Toolchain) -> None:
    command = toolchain.command(Path("k.c"), Path("k.so"))
    assert command == [toolchain.cc, *toolchain.cflags, "k.c", "-o", "k.so", *toolchain.ldflags]


def test_compile_shared_builds_a_shared_object(toolchain: Toolchain, tmp_path: Path) -> None:
    so_path = tmp_path / "f.so"
    compile_shared(toolchain, write_c(tmp_path, "int f(void) { return 1; }\n"), so_path)
    assert so_path.read_bytes()[:4] == b"\x7fELF"


def test_bad_c_raises_compilation_error_with_message_and_path(
    toolchain: Toolchain, tmp_path: Path
) -> None:
    c_path = write_c(tmp_path, "int f(void) { return undeclared_thing; }\n")
    with pytest.raises(CompilationError) as caught:
        compile_shared(toolchain, c_path, tmp_path / "f.so")
    assert str(c_path) in str(caught.value)
    assert "undeclared_thing" in str(caught.value)
    assert not (tmp_path / "f.so").exists()


def test_undefined_symbol_fails_at_link_time_not_at_load(
    toolchain: Toolchain, tmp_path: Path
) -> None:
    c_path = write_c(tmp_path, "int mystery(void);\nint f(void) { return mystery(); }\n")
    with pytest.raises(CompilationError, match="mystery"):
        compile_shared(toolchain, c_path, tmp_path / "f.so")


def test_compiler_command_is_logged_at_debug_level_3(
    toolchain: Toolchain,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    c_path = write_c(tmp_path, "int f(void) { return 1; }\n")
    monkeypatch.setenv("AIDJIT_DEBUG", "2")
    compile_shared(toolchain, c_path, tmp_path / "f.so")
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("AIDJIT_DEBUG", "3")
    compile_shared(toolchain, c_path, tmp_path / "f.so")
    assert f"[aidjit] compile: {toolchain.cc}" in capsys.readouterr().err


def test_simd_expf_calls_libmvec_and_matches_numpy(toolchain: Toolchain, tmp_path: Path) -> None:
    if not toolchain.vector_math:
        pytest.skip("this compiler cannot find libmvec")
    so_path = tmp_path / "vexp.so"
    compile_shared(toolchain, write_c(tmp_path, SIMD_EXP_SOURCE), so_path)
    if shutil.which("objdump") is not None:
        disassembly = subprocess.run(
            ["objdump", "-d", str(so_path)], capture_output=True, text=True, check=True
        ).stdout
        assert "_ZGV" in disassembly and "expf" in disassembly
    spec = ArgSpec("x", (1000,), np.dtype(np.float32))
    vexp = NativeFunction(
        so_path,
        "vexp",
        "void vexp(const float *x, float *y)",
        [spec],
        [ArgSpec("y", (1000,), spec.dtype)],
    )
    x = np.linspace(-20, 20, 1000, dtype=np.float32)
    (y,) = vexp(x)
    np.testing.assert_allclose(y, np.exp(x), rtol=2e-6)


def test_libmvec_is_dropped_when_the_compiler_cannot_find_it(
    make_script: Callable[[str, str], Path], tmp_path: Path
) -> None:
    real_cc = shutil.which("cc")
    fake = make_script(
        "no-mvec-cc",
        'case "$1" in\n'
        '  -print-file-name=*) echo "${1#-print-file-name=}" ;;\n'
        f'  *) exec {real_cc} "$@" ;;\n'
        "esac\n",
    )
    toolchain = find_toolchain(cc=str(fake))
    assert "-lmvec" not in toolchain.ldflags
    assert "-lm" in toolchain.ldflags
    assert not toolchain.vector_math
    compile_shared(toolchain, write_c(tmp_path, "int f(void) { return 1; }\n"), tmp_path / "f.so")
