"""The fast call into compiled code: a CPython extension that checks arrays and calls kernels.

Why not cffi: on cffi's ABI route each ``ffi.from_buffer`` costs ~0.23 us, and the checks and
allocation written in Python around the call more: ~5.7 us above the kernel for three arrays on
the shared machine (`bench/dispatch.py`), against a budget of 2 us. A call through the
extension below does all of it in one C function: it takes the arrays via the buffer protocol,
checks type, format, itemsize, ndim, shape and C-contiguity against the compiled specs,
allocates the outputs with ``numpy.empty``, takes a workspace from a pool, releases the GIL
around kernels that move enough bytes for it to matter, and returns the outputs: ~1.3 us above
the kernel on the same machine, of which ``numpy.empty`` is ~0.35 us.

Why one extension for every kernel rather than an entry point emitted into each kernel's C:
``Python.h`` would add 0.07-0.2 s to every kernel's build (measured with gcc -O3), and tie every
cached kernel to one Python version. So the extension is built once per interpreter (named by a
digest of its source, which names the Python version and include directory) and each kernel
only gains a one-line C thunk, `packed_thunk`, taking its pointers as one array: the extension
calls any kernel through that one signature, and the C compiler checks each thunk's call against
its kernel's definition.

The extension never raises a check's error itself: a call that is not exactly right (wrong count,
a non-ndarray, another dtype, shape or layout) raises `Mismatch`, and the caller checks again in
Python, where every message is made (`aidjit.runtime.loader`), copying a non-contiguous input or
converting a list as before. Without Python headers or a C compiler that builds the extension,
`entry_module` returns None and the loader calls through cffi.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import threading
from importlib.machinery import ExtensionFileLoader, ModuleSpec
from importlib.util import module_from_spec
from pathlib import Path
from types import ModuleType

from aidjit.debug import debug_log
from aidjit.errors import AidjitError

MODULE_NAME = "aidjit_entry"
THUNK_PREFIX = "aj_packed_"
"""`aj_packed_<kernel>`: emit_c's escaped names never have a single `_` after `aj_`."""

RELEASE_GIL_BYTES = 64 * 1024
"""Release the GIL only around kernels that read and write at least this many bytes (a few us
of work): releasing and retaking it costs ~0.1 us, and the other threads gain nothing from a
sub-microsecond kernel."""

ENTRY_SOURCE = r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dlfcn.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Every kernel is called through its thunk: void aj_packed_<kernel>(void *const *pointers). */
typedef void (*packed_fn)(void *const *);

static PyObject *Mismatch; /* set by configure(): entry_point.Mismatch, importable unbuilt */

typedef struct {
    char *format;          /* the buffer format numpy gives this dtype ("f", "d", "l") */
    Py_ssize_t itemsize;
    int ndim;
    Py_ssize_t *shape;
} InputSpec;

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    void *library;         /* dlopen handle, closed with the entry */
    packed_fn function;
    Py_ssize_t n_inputs, n_outputs;
    InputSpec *inputs;
    PyTypeObject *ndarray; /* only exact numpy arrays are checked here; the rest go to Python */
    PyObject *allocate;    /* numpy.empty */
    PyObject **output_args;/* shape, dtype per output */
    Py_ssize_t workspace_bytes;
    void **pool;           /* free workspaces: one per concurrent call, reused */
    Py_ssize_t pool_size, pool_capacity;
    int single;
    size_t release_gil_bytes; /* release the GIL around calls moving at least this */
} Entry;

static void entry_dealloc(Entry *self) {
    for (Py_ssize_t i = 0; self->inputs && i < self->n_inputs; i++) {
        free(self->inputs[i].format);
        free(self->inputs[i].shape);
    }
    free(self->inputs);
    for (Py_ssize_t j = 0; self->output_args && j < 2 * self->n_outputs; j++)
        Py_XDECREF(self->output_args[j]);
    free(self->output_args);
    for (Py_ssize_t k = 0; k < self->pool_size; k++) free(self->pool[k]);
    free(self->pool);
    Py_XDECREF(self->ndarray);
    Py_XDECREF(self->allocate);
    if (self->library) dlclose(self->library);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int matches(const Py_buffer *view, const InputSpec *spec) {
    if (view->itemsize != spec->itemsize || view->ndim != spec->ndim) return 0;
    if (view->format == NULL || strcmp(view->format, spec->format) != 0) return 0;
    for (int d = 0; d < spec->ndim; d++)
        if (view->shape[d] != spec->shape[d]) return 0;
    return PyBuffer_IsContiguous(view, 'C');
}

static void *take_workspace(Entry *self) {
    if (self->pool_size > 0) return self->pool[--self->pool_size];
    size_t bytes = ((size_t)self->workspace_bytes + 63) / 64 * 64;
    return aligned_alloc(64, bytes);
}

static int give_workspace(Entry *self, void *workspace) {
    if (self->pool_size == self->pool_capacity) {
        Py_ssize_t capacity = self->pool_capacity ? 2 * self->pool_capacity : 2;
        void **grown = realloc(self->pool, capacity * sizeof(void *));
        if (grown == NULL) { free(workspace); return 0; }
        self->pool = grown;
        self->pool_capacity = capacity;
    }
    self->pool[self->pool_size++] = workspace;
    return 1;
}

static PyObject *entry_call(PyObject *callable, PyObject *const *args, size_t nargsf,
                            PyObject *kwnames) {
    Entry *self = (Entry *)callable;
    Py_ssize_t n_in = self->n_inputs, n_out = self->n_outputs;
    if (PyVectorcall_NARGS(nargsf) != n_in || (kwnames && PyTuple_GET_SIZE(kwnames))) {
        PyErr_SetNone(Mismatch);
        return NULL;
    }
    Py_buffer views[n_in + n_out + 1];
    void *pointers[n_in + n_out + 1];
    Py_ssize_t held = 0;
    PyObject *outputs = NULL;
    size_t moved = 0;
    for (; held < n_in; held++) {
        PyObject *arg = args[held];
        if (Py_TYPE(arg) != self->ndarray) goto mismatch;
        if (PyObject_GetBuffer(arg, &views[held], PyBUF_RECORDS_RO) < 0) {
            PyErr_Clear();
            goto mismatch;
        }
        if (!matches(&views[held], &self->inputs[held])) { held++; goto mismatch; }
        pointers[held] = views[held].buf;
        moved += views[held].len;
    }
    outputs = PyTuple_New(n_out);
    if (outputs == NULL) goto fail;
    for (Py_ssize_t j = 0; j < n_out; j++) {
        PyObject *array = PyObject_Vectorcall(self->allocate, self->output_args + 2 * j, 2, NULL);
        if (array == NULL) goto fail;
        PyTuple_SET_ITEM(outputs, j, array);
        if (PyObject_GetBuffer(array, &views[held], PyBUF_WRITABLE) < 0) goto fail;
        pointers[held] = views[held].buf;
        moved += views[held].len;
        held++;
    }
    void *workspace = NULL;
    if (self->workspace_bytes) {
        workspace = take_workspace(self);
        if (workspace == NULL) { PyErr_NoMemory(); goto fail; }
        pointers[held] = workspace;
    }
    if (moved >= self->release_gil_bytes) {
        Py_BEGIN_ALLOW_THREADS
        self->function(pointers);
        Py_END_ALLOW_THREADS
    } else {
        self->function(pointers);
    }
    if (workspace && !give_workspace(self, workspace)) { PyErr_NoMemory(); goto fail; }
    for (Py_ssize_t k = 0; k < held; k++) PyBuffer_Release(&views[k]);
    if (self->single) {
        PyObject *only = PyTuple_GET_ITEM(outputs, 0);
        Py_INCREF(only);
        Py_DECREF(outputs);
        return only;
    }
    return outputs;
mismatch:
    PyErr_SetNone(Mismatch);
fail:
    for (Py_ssize_t k = 0; k < held; k++) PyBuffer_Release(&views[k]);
    Py_XDECREF(outputs);
    return NULL;
}

static int read_inputs(Entry *self, PyObject *inputs) {
    /* inputs: a tuple of (format: bytes, itemsize: int, shape: tuple of int) */
    self->n_inputs = PyTuple_GET_SIZE(inputs);
    self->inputs = calloc(self->n_inputs + 1, sizeof(InputSpec));
    if (self->inputs == NULL) { PyErr_NoMemory(); return -1; }
    for (Py_ssize_t i = 0; i < self->n_inputs; i++) {
        const char *format;
        PyObject *shape;
        InputSpec *spec = &self->inputs[i];
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(inputs, i), "ynO!", &format, &spec->itemsize,
                              &PyTuple_Type, &shape))
            return -1;
        spec->format = strdup(format);
        spec->ndim = (int)PyTuple_GET_SIZE(shape);
        spec->shape = calloc(spec->ndim + 1, sizeof(Py_ssize_t));
        if (spec->format == NULL || spec->shape == NULL) { PyErr_NoMemory(); return -1; }
        for (int d = 0; d < spec->ndim; d++) {
            spec->shape[d] = PyLong_AsSsize_t(PyTuple_GET_ITEM(shape, d));
            if (spec->shape[d] == -1 && PyErr_Occurred()) return -1;
        }
    }
    return 0;
}

static PyObject *entry_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    /* Entry(path, thunk, inputs, outputs, workspace_bytes, ndarray, empty, single,
             release_gil_bytes) */
    const char *path, *thunk;
    PyObject *inputs, *outputs, *ndarray, *allocate;
    Py_ssize_t workspace_bytes, release_gil;
    int single;
    if (!PyArg_ParseTuple(args, "ssO!O!nO!Opn", &path, &thunk, &PyTuple_Type, &inputs,
                          &PyTuple_Type, &outputs, &workspace_bytes, &PyType_Type, &ndarray,
                          &allocate, &single, &release_gil))
        return NULL;
    Entry *self = (Entry *)type->tp_alloc(type, 0);
    if (self == NULL) return NULL;
    self->vectorcall = entry_call;
    self->workspace_bytes = workspace_bytes;
    self->single = single;
    self->release_gil_bytes = (size_t)release_gil;
    Py_INCREF(ndarray);
    self->ndarray = (PyTypeObject *)ndarray;
    Py_INCREF(allocate);
    self->allocate = allocate;
    if (read_inputs(self, inputs) < 0) goto fail;
    self->n_outputs = PyTuple_GET_SIZE(outputs);
    if (single && self->n_outputs != 1) {
        PyErr_SetString(PyExc_ValueError, "single needs exactly one output");
        goto fail;
    }
    self->output_args = calloc(2 * self->n_outputs + 1, sizeof(PyObject *));
    if (self->output_args == NULL) { PyErr_NoMemory(); goto fail; }
    for (Py_ssize_t j = 0; j < self->n_outputs; j++) {
        PyObject *shape, *dtype;
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(outputs, j), "O!O", &PyTuple_Type, &shape, &dtype))
            goto fail;
        Py_INCREF(shape);
        Py_INCREF(dtype);
        self->output_args[2 * j] = shape;
        self->output_args[2 * j + 1] = dtype;
    }
    self->library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (self->library == NULL) {
        PyErr_Format(PyExc_OSError, "%s", dlerror());
        goto fail;
    }
    self->function = (packed_fn)dlsym(self->library, thunk);
    if (self->function == NULL) {
        PyErr_Format(PyExc_LookupError, "%s", dlerror());
        goto fail;
    }
    return (PyObject *)self;
fail:
    Py_DECREF(self);
    return NULL;
}

static PyTypeObject EntryType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "aidjit_entry.Entry",
    .tp_basicsize = sizeof(Entry),
    .tp_dealloc = (destructor)entry_dealloc,
    .tp_vectorcall_offset = offsetof(Entry, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "A compiled kernel called with checked numpy arrays.",
    .tp_new = entry_new,
};

static PyObject *configure(PyObject *module, PyObject *mismatch) {
    Py_INCREF(mismatch);
    Py_XSETREF(Mismatch, mismatch);
    Py_RETURN_NONE;
}

static PyMethodDef entry_functions[] = {
    {"configure", configure, METH_O, "Set the exception a call that needs Python's checks raises."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef entry_module = {
    PyModuleDef_HEAD_INIT, "aidjit_entry", NULL, -1, entry_functions,
};

PyMODINIT_FUNC PyInit_aidjit_entry(void) {
    if (PyType_Ready(&EntryType) < 0) return NULL;
    PyObject *module = PyModule_Create(&entry_module);
    if (module == NULL) return NULL;
    Py_INCREF(&EntryType);
    if (PyModule_AddObject(module, "Entry", (PyObject *)&EntryType) < 0) {
        Py_DECREF(&EntryType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
"""


class Mismatch(Exception):  # noqa: N818  (a signal to the caller, not an error a user sees)
    """Raised by an entry when a call is not exactly the compiled one: the caller re-checks in
    Python, which either raises the error a user should see or copies the input and retries."""


def thunk_symbol(symbol: str) -> str:
    """The C name of `symbol`'s thunk."""
    return THUNK_PREFIX + symbol


def packed_thunk(symbol: str, parameters: int) -> str:
    """C appended to a kernel's source: `symbol` called with its pointers taken from one array.

    ``void *`` converts to each parameter's pointer type, so the thunk needs no types and the
    compiler still checks the count against the kernel's definition above it."""
    pointers = ", ".join(f"p[{k}]" for k in range(parameters))
    return (
        f"\n/* The dispatch extension's way in (aidjit/runtime/entry_point.py). */\n"
        f"void {thunk_symbol(symbol)}(void *const *p) {{ {symbol}({pointers}); }}\n"
    )


_BUILDING = threading.Lock()


def python_include() -> Path | None:
    """The directory holding this interpreter's Python.h, or None (no development headers)."""
    import sysconfig

    include = sysconfig.get_paths().get("include")
    return Path(include) if include and (Path(include) / "Python.h").is_file() else None


@functools.cache
def entry_module() -> ModuleType | None:
    """The dispatch extension, built on first use; None when it cannot be (no Python headers,
    a compiler that fails): the loader then calls through cffi.

    Kept beside the kernels in ``<cache dir>/entry/``, named by a digest of its source, which
    names the interpreter by its version and install prefix (they decide its Python.h): a warm
    start only imports it, with no compiler probe, no cffi and no look-up of Python.h (which
    loads sysconfig's data, about 1 ms)."""
    import hashlib  # here, not at the top: its OpenSSL costs 4-13 ms of `import aidjit`

    from aidjit.runtime.cache import cache_dir

    source = f"/* Python {sys.version} ({sys.base_prefix}) */\n{ENTRY_SOURCE}"
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    path = cache_dir() / "entry" / f"{MODULE_NAME}-{digest}.so"
    try:
        with _BUILDING:  # threads loading their first kernels at once build it once
            try:
                return _import(path)
            except ImportError:  # not built yet, or damaged: build it (again)
                include = python_include()
                if include is None:
                    debug_log(1, "no Python.h: compiled functions are called through cffi")
                    return None
                _build(source, include, path)
                return _import(path)
    except (AidjitError, OSError, ImportError) as error:
        debug_log(1, f"dispatch extension unavailable ({error}): calling through cffi")
        return None


def _import(path: Path) -> ModuleType:
    if not path.is_file():
        raise ImportError(f"{path} is not built")
    loader = ExtensionFileLoader(MODULE_NAME, str(path))
    module = module_from_spec(ModuleSpec(MODULE_NAME, loader, origin=str(path)))
    module.configure(Mismatch)
    return module


def _build(source: str, include: Path, path: Path) -> None:
    from aidjit.runtime.toolchain import compile_into_place, find_toolchain

    found = find_toolchain(cflags=("-O2", f"-I{include}"), self_test=False)
    # No libraries, and no -Wl,-z,defs: the CPython API is resolved from the interpreter that
    # loads the extension, as for every extension module.
    compile_into_place(dataclasses.replace(found, ldflags=()), source, path)
