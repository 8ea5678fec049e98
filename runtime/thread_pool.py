"""aidjit's thread pool: the parallel loops of every compiled kernel run on it.

Why not OpenMP: `#pragma omp parallel for` splits a loop into one static block per thread and
ends with a barrier, so the caller waits for the slowest thread, and a worker that has not even
started (asleep, or its vCPU taken by another process or by numpy's spinning OpenBLAS workers)
holds up every region. On a 2-vCPU KVM guest W3's step at two threads took 6.8-7.9 ms per call
right after numpy's matmuls, against 0.70-0.81 ms alone, and about one 20 ms sample in ten ran at
7-8 ms even alone (docs/performance.md, "Threads"). Here the caller never waits for a worker that
has not started: a loop is cut into chunks that whoever is running takes, one at a time, from a
shared counter (as TBB and Rayon schedule), the caller included, so a loop whose worker never
wakes runs at the speed of one thread instead of stalling, and the caller waits only for chunks
a worker has already taken.

The chunks are fixed by the emitted C (`aidjit.runtime.emit_c`), not by timing: which thread runs
a chunk changes nothing in its result, so results stay bitwise the same for any thread count.

One pool per process, shared by every kernel: a small shared library built once per cache
directory (named by a digest of its source, so a warm start only dlopens it) whose
`aidjit_parallel_for` the loader writes into each kernel's `aidjit_thread_pool` pointer after
loading it (`attach`). A kernel whose pointer stays null (a C harness, no compiler for the pool)
runs its chunks in order on the calling thread, with the same results.

Idle workers spin `SPIN_MICROSECONDS` (long enough to cover the serial code between a call's
parallel loops and the gap between back-to-back calls), then sleep on a condition variable; a
caller that finds workers asleep wakes them and starts on the chunks at once. A spinning worker
takes a core another process may want: on a busy machine `AIDJIT_SPIN_US=0` makes workers sleep
at once (what `OMP_WAIT_POLICY=passive` did for the OpenMP loops before), and `threads=1` avoids
the pool altogether. Calls from several threads at once, and any call while the pool is busy,
run their chunks on the calling thread.
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import os
import threading
from pathlib import Path

from aidjit.debug import debug_log
from aidjit.errors import AidjitError

SLOT = "aidjit_thread_pool"
"""The pointer each kernel with a parallel loop exports, null until `attach` fills it."""

ENTRY = "aidjit_parallel_for"

SPIN_ENV_VAR = "AIDJIT_SPIN_US"
MAX_SPIN_MICROSECONDS = 1_000_000

SPIN_MICROSECONDS = 500
"""How long an idle worker spins before it sleeps, unless `$AIDJIT_SPIN_US` says otherwise.
Waking a sleeping worker cost ~0.1 ms on a 2-vCPU KVM guest whose idle vCPU halts, a spinning
one 0.5-1 us; W3's step has eleven parallel loops and serial code between them."""

MAX_WORKERS = 255

POOL_SOURCE = (
    r"""
/* aidjit's thread pool (aidjit/runtime/thread_pool.py). */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

typedef void (*aidjit_chunk_fn)(void *context, int64_t chunk);
"""
    + f"#define SPIN_MICROSECONDS {SPIN_MICROSECONDS}\n#define MAX_WORKERS {MAX_WORKERS}\n"
    + r"""
/* The low half of `claim` when a job's fields are being written: above any chunk index. */
#define CLOSED 0xffffffffu

/* (generation << 32) | the next chunk nobody has taken. A job is one generation; a chunk is
   taken by a compare-and-swap that also checks the generation, so a worker that read an older
   job never takes a chunk of the current one. */
static _Atomic uint64_t claim;
/* The current job, written only between `claim` = (generation, CLOSED) and the store that opens
   it, and read like a seqlock: valid if the generation did not change around the reads. */
static _Atomic(aidjit_chunk_fn) job_chunk;
static _Atomic(void *) job_context;
static _Atomic uint32_t job_chunks;
static _Atomic int job_workers;  /* workers with an index below this may join */
static _Atomic uint32_t job_done; /* chunks finished, by anyone */

static atomic_flag busy = ATOMIC_FLAG_INIT;
static _Atomic int sleepers;
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;
static int started;            /* under start_lock */
static _Atomic int running;    /* workers started, readable without the lock */
static pthread_once_t fork_handler = PTHREAD_ONCE_INIT;
static _Atomic int spin_microseconds = SPIN_MICROSECONDS;

/* How long idle workers spin before they sleep (set by the loader from $AIDJIT_SPIN_US). */
void aidjit_pool_spin(int microseconds) { atomic_store(&spin_microseconds, microseconds); }

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static int64_t microseconds(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

/* Take and run chunks of `generation` until none is left. */
static void run_chunks(uint32_t generation, aidjit_chunk_fn chunk, void *context,
                       uint32_t chunks) {
    uint64_t current = atomic_load_explicit(&claim, memory_order_relaxed);
    for (;;) {
        uint32_t next = (uint32_t)current;
        if ((uint32_t)(current >> 32) != generation || next >= chunks) return;
        if (atomic_compare_exchange_weak_explicit(&claim, &current, current + 1,
                                                  memory_order_acquire, memory_order_relaxed)) {
            chunk(context, next);
            atomic_fetch_add_explicit(&job_done, 1, memory_order_release);
            current = atomic_load_explicit(&claim, memory_order_relaxed);
        }
    }
}

/* Return `claim` once its generation is not `seen`: spin, then sleep until woken. */
static uint64_t wait_for_job(uint32_t seen) {
    uint64_t current;
    int64_t start = -1;
    for (unsigned spins = 1;; spins++) {
        current = atomic_load_explicit(&claim, memory_order_acquire);
        if ((uint32_t)(current >> 32) != seen) return current;
        cpu_relax();
        if (spins % 256 == 0) {
            int64_t now = microseconds();
            if (start < 0) start = now;
            else if (now - start >= atomic_load_explicit(&spin_microseconds,
                                                          memory_order_relaxed)) break;
        }
    }
    pthread_mutex_lock(&sleep_lock);
    /* Sequentially consistent, as are the opening store and the load of `sleepers` in
       aidjit_parallel_for: either the caller sees this sleeper and wakes it, or this load
       sees the new generation. */
    atomic_fetch_add(&sleepers, 1);
    while ((uint32_t)((current = atomic_load(&claim)) >> 32) == seen)
        pthread_cond_wait(&wake, &sleep_lock);
    atomic_fetch_sub(&sleepers, 1);
    pthread_mutex_unlock(&sleep_lock);
    return current;
}

static void *worker(void *argument) {
    int index = (int)(intptr_t)argument;
    /* The job open now, if any, counts as new: join it. */
    uint32_t seen = (uint32_t)(atomic_load(&claim) >> 32) - 1;
    for (;;) {
        uint64_t current = wait_for_job(seen);
        uint32_t generation = (uint32_t)(current >> 32);
        if ((uint32_t)current == CLOSED) {  /* its fields are being written */
            cpu_relax();
            continue;
        }
        aidjit_chunk_fn chunk = atomic_load_explicit(&job_chunk, memory_order_relaxed);
        void *context = atomic_load_explicit(&job_context, memory_order_relaxed);
        uint32_t chunks = atomic_load_explicit(&job_chunks, memory_order_relaxed);
        int workers = atomic_load_explicit(&job_workers, memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if ((uint32_t)(atomic_load_explicit(&claim, memory_order_relaxed) >> 32) != generation)
            continue;  /* a newer job replaced the fields while they were read */
        seen = generation;
        if (index < workers) run_chunks(generation, chunk, context, chunks);
    }
    return 0;
}

/* In a child of fork() the workers do not exist: start afresh. */
static void reset_after_fork(void) {
    started = 0;
    atomic_store(&running, 0);
    atomic_store(&sleepers, 0);
    atomic_flag_clear(&busy);
    pthread_mutex_init(&sleep_lock, 0);
    pthread_mutex_init(&start_lock, 0);
    pthread_cond_init(&wake, 0);
}

static void register_fork_handler(void) { pthread_atfork(0, 0, reset_after_fork); }

/* Start workers until `wanted` run; return how many of them can be used. */
static int start_workers(int wanted) {
    if (atomic_load_explicit(&running, memory_order_acquire) >= wanted) return wanted;
    pthread_once(&fork_handler, register_fork_handler);
    pthread_mutex_lock(&start_lock);
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    while (started < wanted) {
        pthread_t thread;
        if (pthread_create(&thread, &attributes, worker, (void *)(intptr_t)started) != 0) break;
        started++;
    }
    pthread_attr_destroy(&attributes);
    atomic_store_explicit(&running, started, memory_order_release);
    int usable = started < wanted ? started : wanted;
    pthread_mutex_unlock(&start_lock);
    return usable;
}

/* Run chunk(context, c) for every c in [0, chunks) on up to `threads` threads, this one
   included; return when all have run. */
void aidjit_parallel_for(aidjit_chunk_fn chunk, void *context, int64_t chunks, int32_t threads) {
    int workers = threads - 1 < MAX_WORKERS ? threads - 1 : MAX_WORKERS;
    if (workers > 0 && chunks > 1 && chunks < CLOSED) workers = start_workers(workers);
    else workers = 0;
    /* With no worker, or the pool busy (another thread's call, a call from inside a chunk),
       this thread runs every chunk. */
    if (workers == 0 || atomic_flag_test_and_set_explicit(&busy, memory_order_acquire)) {
        for (int64_t c = 0; c < chunks; c++) chunk(context, c);
        return;
    }
    uint32_t generation = (uint32_t)(atomic_load_explicit(&claim, memory_order_relaxed) >> 32) + 1;
    atomic_store_explicit(&claim, (uint64_t)generation << 32 | CLOSED, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&job_chunk, chunk, memory_order_relaxed);
    atomic_store_explicit(&job_context, context, memory_order_relaxed);
    atomic_store_explicit(&job_chunks, (uint32_t)chunks, memory_order_relaxed);
    atomic_store_explicit(&job_workers, workers, memory_order_relaxed);
    atomic_store_explicit(&job_done, 0, memory_order_relaxed);
    atomic_store(&claim, (uint64_t)generation << 32);  /* open: chunk 0 is next */
    if (atomic_load(&sleepers) > 0) {
        pthread_mutex_lock(&sleep_lock);
        pthread_cond_broadcast(&wake);
        pthread_mutex_unlock(&sleep_lock);
    }
    run_chunks(generation, chunk, context, (uint32_t)chunks);
    /* Every chunk is taken: wait only for those a worker is still running. */
    for (unsigned spins = 1;
         atomic_load_explicit(&job_done, memory_order_acquire) < (uint32_t)chunks; spins++) {
        cpu_relax();
        if (spins % 1024 == 0) sched_yield();
    }
    atomic_flag_clear_explicit(&busy, memory_order_release);
}
"""
)

_BUILDING = threading.Lock()
_library: ctypes.CDLL | None = None  # kept: the workers run its code for the process's life
_attached: set[Path] = set()


@functools.cache
def pool_address() -> int | None:
    """The address of the pool's `aidjit_parallel_for`, building the pool on first use; None
    when it cannot be built (kernels then run their chunks serially)."""
    global _library
    path = pool_path()
    spin = spin_microseconds()
    try:
        with _BUILDING:
            try:
                _library = ctypes.CDLL(str(path))
            except OSError:  # not built yet, or damaged: build it (again)
                _build(path)
                _library = ctypes.CDLL(str(path))
    except (AidjitError, OSError) as error:
        debug_log(1, f"thread pool unavailable ({error}): parallel loops run on one thread")
        return None
    _library.aidjit_pool_spin(spin)
    return ctypes.cast(getattr(_library, ENTRY), ctypes.c_void_p).value


def pool_path() -> Path:
    """Where the pool's library is kept: in the cache directory, named by its source."""
    import hashlib  # here, not at the top: its OpenSSL costs 4-13 ms of `import aidjit`

    from aidjit.runtime.cache import cache_dir

    digest = hashlib.sha256(POOL_SOURCE.encode()).hexdigest()[:16]
    return cache_dir() / "threads" / f"aidjit_threads-{digest}.so"


def spin_microseconds() -> int:
    """`$AIDJIT_SPIN_US` if set (checked), else `SPIN_MICROSECONDS`."""
    given = os.environ.get(SPIN_ENV_VAR, "").strip()
    if not given:
        return SPIN_MICROSECONDS
    if not (given.isascii() and given.isdigit()) or int(given) > MAX_SPIN_MICROSECONDS:
        raise ValueError(
            f"{SPIN_ENV_VAR} must be a whole number of microseconds from 0 to "
            f"{MAX_SPIN_MICROSECONDS} (how long idle pool threads spin before they sleep), "
            f"got {given!r}"
        )
    return int(given)


def attach(so_path: Path) -> None:
    """Set the `aidjit_thread_pool` pointer of the kernel at `so_path` to the pool (once per
    kernel; a kernel without parallel loops has no such pointer). Kernels are never unloaded
    (-Wl,-z,nodelete), so the pointer stays set however often the file is opened again."""
    if so_path in _attached:
        return
    try:
        slot = ctypes.c_void_p.in_dll(ctypes.CDLL(str(so_path)), SLOT)
    except ValueError:  # no parallel loop
        slot = None
    address = pool_address() if slot is not None else None
    if slot is not None and address is not None:
        slot.value = address
    _attached.add(so_path)


def _build(path: Path) -> None:
    from aidjit.runtime.toolchain import compile_into_place, find_toolchain

    found = find_toolchain(cflags=("-O2", "-pthread"), self_test=False)
    compile_into_place(dataclasses.replace(found, ldflags=("-pthread",)), POOL_SOURCE, path)
