"""Finding the C compiler, the flags it gets, and how its failures are reported."""

import dataclasses
import json
import logging
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from aidjit.errors import CompilationError, CompilerNotFoundError
from aidjit.runtime import compiler_self_test
from aidjit.runtime import toolchain as toolchain_module
from aidjit.runtime.compiler_self_test import REPRODUCERS, run_self_test, self_test_failures
from aidjit.runtime.emit_c import GLOBAL_STORAGE, helper_definition
from aidjit.runtime.loader import ArgSpec, NativeFunction
from aidjit.runtime.toolchain import (
    DEFAULT_CFLAGS,
    Toolchain,
    compile_shared,
    find_toolchain,
    host_fingerprint,
)

pytestmark = pytest.mark.usefixtures("isolated_cache")

GCC = shutil.which("gcc")
needs_gcc = pytest.mark.skipif(GCC is None, reason="gcc not installed")

# No simdlen: gcc calls the variant of the host's width (8 lanes on AVX2, 16 on AVX-512).
SIMD_EXP_SOURCE = """\
#include <stdint.h>
#pragma omp declare simd notinbranch
extern float expf(float);
void vexp(const float *x, float *y) {
#pragma omp simd
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
def test_the_path_search_finds_what_shutil_which_finds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`_on_path` stands in for shutil.which (not imported on a warm start)."""
    (tmp_path / "tool").write_text("#!/bin/sh\n")
    (tmp_path / "tool").chmod(0o755)
    (tmp_path / "data").write_text("")
    (tmp_path / "folder").mkdir()
    monkeypatch.setenv("PATH", f"{tmp_path}{__import__('os').pathsep}/usr/bin:/bin")
    names = ["tool", "data", "folder", "cc", "sh", "no-such-compiler", str(tmp_path / "tool")]
    names += [str(tmp_path / "data"), str(tmp_path / "folder")]
    for name in names:
        assert toolchain_module._on_path(name) == shutil.which(name), name


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


# --- the self-test ------------------------------------------------------------------------------

# A compiler with the two gcc 12.2 bugs aidjit met, unless built with -fno-tree-vectorize: it
# "miscompiles" the global copy (by building an altered copy of it) and "crashes" on max/min.
FAKE_BUGGY_CC = """\
import subprocess, sys
from pathlib import Path
real_cc, log, args = sys.argv[1], sys.argv[2], sys.argv[3:]
Path(log).open("a").write(" ".join(args) + "\\n")
buggy = "-fno-tree-vectorize" not in args
for position, arg in enumerate(args):
    if buggy and arg.endswith("global-copy.c"):
        broken = Path(arg).with_name("broken-global-copy.c")
        broken.write_text(Path(arg).read_text().replace("0x13B", "0x13A"))
        args[position] = str(broken)
    if buggy and arg.endswith("nan-aware-max-min.c"):
        sys.exit(arg + ":9:6: internal compiler error: in eliminate_stmt, at tree-ssa-sccvn.cc")
sys.exit(subprocess.call([real_cc, *args]))
"""


def buggy_cc(tmp_path: Path, make_script: Callable[[str, str], Path], version: str) -> Path:
    """The fake compiler above (wrapping cc, logging each call), answering --version itself."""
    script = tmp_path / "buggy_cc.py"
    script.write_text(FAKE_BUGGY_CC)
    return make_script(
        "buggy-cc",
        f'case "$1" in --version) echo "{version}"; exit 0 ;; esac\n'
        f'exec {sys.executable} {script} {shutil.which("cc")} {tmp_path / "calls.log"} "$@"\n',
    )


@pytest.fixture
def buggy_toolchain(tmp_path: Path, make_script: Callable[[str, str], Path]) -> Toolchain:
    cc = buggy_cc(tmp_path, make_script, "buggy 1.0")
    return dataclasses.replace(find_toolchain(self_test=False), cc=str(cc), version="buggy 1.0")


def compiler_calls(tmp_path: Path) -> int:
    log = tmp_path / "calls.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_reproducers_are_in_the_shape_emit_c_emits_today() -> None:
    sources = {reproducer.name: reproducer.source for reproducer in REPRODUCERS}
    assert f"{GLOBAL_STORAGE} double aidjit_self_test_c[9]" in sources["global-copy"]
    for helper in ("maximum", "minimum"):
        assert helper_definition(helper, "float") in sources["nan-aware-max-min"]


def test_this_machines_compiler_passes_the_self_test(toolchain: Toolchain) -> None:
    assert self_test_failures(toolchain) == {}
    assert find_toolchain().cflags == DEFAULT_CFLAGS


def test_a_failing_reproducer_switches_to_fallback_flags_with_a_warning(
    buggy_toolchain: Toolchain, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    failures = self_test_failures(buggy_toolchain)
    assert failures["global-copy"] == "computes wrong values"
    assert "internal compiler error" in failures["nan-aware-max-min"]
    records = tmp_path / "records"
    with caplog.at_level(logging.WARNING, logger="aidjit"):
        chosen = run_self_test(buggy_toolchain, records)
    assert chosen.cflags == (*buggy_toolchain.cflags, "-fno-tree-vectorize")
    assert chosen.cc == buggy_toolchain.cc and chosen.ldflags == buggy_toolchain.ldflags
    (warning,) = [r for r in caplog.records if r.name == "aidjit"]
    assert warning.levelno == logging.WARNING
    for text in ("buggy-cc", "buggy 1.0", "global-copy", "nan-aware-max-min"):
        assert text in warning.getMessage()
    assert "instead" in warning.getMessage() and "-fno-tree-vectorize" in warning.getMessage()


def test_the_verdict_is_recorded_per_toolchain_and_still_warns(
    buggy_toolchain: Toolchain, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    records = tmp_path / "records"
    first = run_self_test(buggy_toolchain, records)
    calls = compiler_calls(tmp_path)
    assert len(list(records.glob("*.json"))) == 1
    with caplog.at_level(logging.WARNING, logger="aidjit"):
        again = run_self_test(buggy_toolchain, records)
    assert again == first
    assert compiler_calls(tmp_path) == calls  # answered from the record: nothing compiled
    assert "failed aidjit's toolchain self-test" in caplog.text  # but never silently
    other_flags = dataclasses.replace(buggy_toolchain, cflags=(*buggy_toolchain.cflags, "-g"))
    run_self_test(other_flags, records)
    assert len(list(records.glob("*.json"))) == 2  # another identity, tested on its own


def test_a_damaged_record_is_tested_again(buggy_toolchain: Toolchain, tmp_path: Path) -> None:
    records = tmp_path / "records"
    run_self_test(buggy_toolchain, records)
    (record,) = records.glob("*.json")
    record.write_text('{"cflags": 3')
    calls = compiler_calls(tmp_path)
    assert run_self_test(buggy_toolchain, records).cflags[-1] == "-fno-tree-vectorize"
    assert compiler_calls(tmp_path) > calls
    assert json.loads(record.read_text())["cflags"][-1] == "-fno-tree-vectorize"


def test_when_no_fallback_passes_the_flags_stay_and_a_warning_says_so(
    toolchain: Toolchain,
    tmp_path: Path,
    make_script: Callable[[str, str], Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = make_script("broken-cc", 'echo "internal compiler error: always" >&2\nexit 1\n')
    hopeless = dataclasses.replace(toolchain, cc=str(broken))
    with caplog.at_level(logging.WARNING, logger="aidjit"):
        assert run_self_test(hopeless, tmp_path / "records") == hopeless
    assert "every fallback" in caplog.text and "results may be wrong" in caplog.text


def test_find_toolchain_runs_the_self_test_once_per_toolchain(
    tmp_path: Path,
    make_script: Callable[[str, str], Path],
    isolated_cache: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cc = buggy_cc(tmp_path, make_script, "buggy 2.0")
    with caplog.at_level(logging.WARNING, logger="aidjit"):
        chosen = find_toolchain(cc=str(cc))
    assert chosen.cflags[-1] == "-fno-tree-vectorize"
    assert "buggy 2.0" in caplog.text
    assert list((isolated_cache / "toolchains").glob("*.json"))
    calls = compiler_calls(tmp_path)
    assert find_toolchain(cc=str(cc)) == chosen
    assert compiler_calls(tmp_path) == calls


def gcc_12_2_on_avx512() -> bool:
    version = subprocess.run(["cc", "--version"], capture_output=True, text=True).stdout
    return "12.2" in version.split("\n")[0] and "avx512vl" in host_fingerprint()


@pytest.mark.skipif(not gcc_12_2_on_avx512(), reason="needs gcc 12.2 on an AVX-512VL machine")
def test_the_self_test_catches_the_real_gcc_12_2_bugs_in_the_old_emission(
    toolchain: Toolchain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What aidjit emitted before the workarounds, self-tested with the real compiler."""
    old_maximum = """static inline float aidjit_maximum_f32(float a, float b) {
    const float larger = (a > b || (a == b && !signbit(a))) ? a : b;
    return (isnan(a) || isnan(b)) ? a + b : larger;
}"""
    old = tuple(
        dataclasses.replace(
            reproducer,
            source=reproducer.source.replace(GLOBAL_STORAGE, "static const")
            .replace(helper_definition("maximum", "float"), old_maximum)
            .replace("AIDJIT_NO_SLP __attribute__((noinline))", "__attribute__((noinline))"),
        )
        for reproducer in REPRODUCERS
    )
    assert [r.source for r in old] != [r.source for r in REPRODUCERS]
    monkeypatch.setattr(compiler_self_test, "REPRODUCERS", old)
    failures = self_test_failures(toolchain)
    assert failures["global-copy"] == "computes wrong values"
    assert "internal compiler error" in failures["nan-aware-max-min"]
    assert failures["round-trip-cast"] == "computes wrong values"
    fixed = dataclasses.replace(toolchain, cflags=(*toolchain.cflags, "-fno-tree-vectorize"))
    assert self_test_failures(fixed) == {}
