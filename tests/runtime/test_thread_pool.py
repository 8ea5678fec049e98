"""The thread pool: every chunk runs exactly once, a caller never waits for a worker that has not
started, kernels find the pool through the pointer the loader sets, a forked child works, and
`AIDJIT_SPIN_US` sets how long idle workers spin.

The first two are C programs linking the pool's own source, so they test it without Python in
the way: many jobs of random sizes and thread counts from several calling threads at once, and a
pool whose worker is held back before it starts (its `pthread_create` wrapped)."""

import ctypes
import multiprocessing
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import aidjit
from aidjit.runtime import thread_pool
from aidjit.runtime.toolchain import find_toolchain

STRESS = r"""
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void aidjit_parallel_for(void (*)(void *, int64_t), void *, int64_t, int32_t);

typedef struct { _Atomic int runs[80]; int delay; } Job;

static void chunk(void *context, int64_t index) {
    Job *job = context;
    atomic_fetch_add(&job->runs[index], 1);
    for (volatile int k = 0; k < job->delay * (int)(index % 7); k++) {}
}

static _Atomic long wrong;

static void *caller(void *argument) {
    unsigned seed = (unsigned)(intptr_t)argument;
    Job *job = calloc(1, sizeof(Job));
    for (int n = 0; n < 20000; n++) {
        int chunks = rand_r(&seed) % 80, threads = 1 + rand_r(&seed) % 4;
        job->delay = rand_r(&seed) % 3 == 0 ? rand_r(&seed) % 2000 : 0;
        for (int c = 0; c < chunks; c++) atomic_store(&job->runs[c], 0);
        aidjit_parallel_for(chunk, job, chunks, threads);
        for (int c = 0; c < chunks; c++) wrong += atomic_load(&job->runs[c]) != 1;
        if (n % 2000 == 0) {  /* long enough for idle workers to fall asleep */
            struct timespec pause = {0, 800000};
            nanosleep(&pause, 0);
        }
    }
    free(job);
    return 0;
}

int main(void) {
    pthread_t callers[3];
    for (int t = 0; t < 3; t++) pthread_create(&callers[t], 0, caller, (void *)(intptr_t)(t + 1));
    for (int t = 0; t < 3; t++) pthread_join(callers[t], 0);
    printf("chunks not run exactly once: %ld\n", wrong);
    return wrong != 0;
}
"""

LATE_WORKER = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

void aidjit_parallel_for(void (*)(void *, int64_t), void *, int64_t, int32_t);

/* The pool's workers start here and wait until `released`: a worker that has not started. */
static _Atomic int released;
static void *(*work)(void *);
static void *held(void *argument) {
    while (!atomic_load(&released)) sched_yield();
    return work(argument);
}
int pthread_create(pthread_t *thread, const pthread_attr_t *attributes,
                   void *(*start)(void *), void *argument) {
    int (*create)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *) =
        (int (*)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *))
            dlsym(RTLD_NEXT, "pthread_create");
    work = start;
    return create(thread, attributes, held, argument);
}

static pthread_t caller;
static _Atomic long by_caller, by_others;
static void chunk(void *context, int64_t index) {
    (void)context;
    (void)index;
    if (pthread_equal(pthread_self(), caller)) by_caller++;
    else by_others++;
    for (volatile int k = 0; k < 20000; k++) {}
}

int main(void) {
    caller = pthread_self();
    for (int n = 0; n < 200; n++) aidjit_parallel_for(chunk, 0, 32, 2);
    printf("held: %ld by the caller, %ld by others\n", by_caller, by_others);
    int alone = by_caller == 200 * 32 && by_others == 0;
    atomic_store(&released, 1);
    for (int n = 0; n < 2000 && by_others == 0; n++) aidjit_parallel_for(chunk, 0, 32, 2);
    printf("released: %ld by others\n", by_others);
    return !(alone && by_others > 0);
}
"""


def _run_with_pool(tmp_path: Path, name: str, source: str) -> str:
    """Build `source` with the pool's C into an executable, run it, return its output."""
    compiler = find_toolchain(self_test=False).cc
    (tmp_path / "pool.c").write_text(thread_pool.POOL_SOURCE)
    (tmp_path / f"{name}.c").write_text(source)
    program = tmp_path / name
    subprocess.run(
        [compiler, "-O2", "-pthread", "pool.c", f"{name}.c", "-o", str(program), "-ldl"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    result = subprocess.run([str(program)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_every_chunk_runs_exactly_once_from_concurrent_callers(tmp_path: Path) -> None:
    output = _run_with_pool(tmp_path, "stress", STRESS)
    assert "chunks not run exactly once: 0" in output


def test_the_caller_runs_every_chunk_while_its_worker_has_not_started(tmp_path: Path) -> None:
    output = _run_with_pool(tmp_path, "late_worker", LATE_WORKER)
    assert "held: 6400 by the caller, 0 by others" in output


def _exp_twice(x: aidjit.Tensor) -> aidjit.Tensor:
    return aidjit.ops.exp(x) * 2.0


X = np.linspace(-3, 3, 1031 * 1537, dtype=np.float32).reshape(1031, 1537)


def _kernel_path(threads: int) -> Path:
    compiled = aidjit.compile(_exp_twice, X, threads=threads, tier="optimized")
    return compiled._call.so_path


def test_the_loader_points_a_parallel_kernel_at_the_pool() -> None:
    two = ctypes.CDLL(str(_kernel_path(2)))
    assert "aidjit_parallel(" in aidjit.compile(_exp_twice, X, threads=2).ir("c")
    assert ctypes.c_void_p.in_dll(two, thread_pool.SLOT).value == thread_pool.pool_address()
    with pytest.raises(ValueError):  # one thread: no parallel loop, no pointer
        ctypes.c_void_p.in_dll(ctypes.CDLL(str(_kernel_path(1))), thread_pool.SLOT)


def _run_in_child(queue: "multiprocessing.Queue[bytes]") -> None:
    compiled = aidjit.compile(_exp_twice, X, threads=2, tier="optimized")
    queue.put(compiled(X).tobytes())


def test_a_forked_child_runs_parallel_kernels() -> None:
    """The child of a fork has none of the parent's workers: the pool starts afresh in it."""
    compiled = aidjit.compile(_exp_twice, X, threads=2, tier="optimized")
    expected = compiled(X).tobytes()
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_run_in_child, args=(queue,))
    child.start()
    got = queue.get(timeout=120)
    child.join(timeout=60)
    assert child.exitcode == 0
    assert got == expected


SPIN_PROBE = """
import time
import numpy as np
import aidjit
x = np.linspace(-3, 3, 1031 * 1537, dtype=np.float32).reshape(1031, 1537)
f = aidjit.compile(lambda t: aidjit.ops.exp(t) * 2.0, x, threads=2, tier="optimized")
f(x)
start = time.process_time()
for _ in range(20):
    f(x)
    time.sleep(0.02)
print(time.process_time() - start)
"""


def _cpu_seconds_with_spin(spin: str) -> float:
    """CPU time of 20 parallel calls 20 ms apart, in a process with `AIDJIT_SPIN_US=spin`."""
    result = subprocess.run(
        [sys.executable, "-c", SPIN_PROBE],
        env={**os.environ, thread_pool.SPIN_ENV_VAR: spin},
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return float(result.stdout.split()[-1])


def test_aidjit_spin_us_sets_how_long_idle_workers_spin() -> None:
    """Spinning through every 20 ms gap costs ~0.4 s of CPU; sleeping at once, none."""
    asleep, spinning = _cpu_seconds_with_spin("0"), _cpu_seconds_with_spin("200000")
    assert asleep < spinning / 2, (asleep, spinning)


@pytest.mark.parametrize("given", ["fast", "-1", "2000000", "1.5"])
def test_a_bad_aidjit_spin_us_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    monkeypatch.setenv(thread_pool.SPIN_ENV_VAR, given)
    with pytest.raises(ValueError, match=f"AIDJIT_SPIN_US must be .* got '{re.escape(given)}'"):
        thread_pool.spin_microseconds()


DAMAGED_POOL_PROBE = """
import ctypes
import numpy as np
import aidjit
from aidjit.runtime import thread_pool
path = thread_pool.pool_path()
path.parent.mkdir(parents=True, exist_ok=True)
path.write_bytes(b"not a shared object")
x = np.linspace(-3, 3, 1031 * 1537, dtype=np.float32).reshape(1031, 1537)
f = aidjit.compile(lambda t: aidjit.ops.exp(t) * 2.0, x, threads=2, tier="optimized")
slot = ctypes.c_void_p.in_dll(ctypes.CDLL(str(f._call.so_path)), thread_pool.SLOT).value
print(slot is not None and slot == thread_pool.pool_address())
"""


def test_a_damaged_pool_library_is_built_again(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", DAMAGED_POOL_PROBE],
        env={**os.environ, "AIDJIT_CACHE_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.stdout.split()[-1:] == ["True"], result.stdout + result.stderr
