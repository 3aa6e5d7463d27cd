/* gateway._publish: the publish path's per-item loops around the log, in C.
 *
 * The per-item steps themselves (read, encode, fingerprint, frame) are gateway._speedups';
 * what is here are the loops that held them together in Python, each with its Python
 * twin kept as the reference and the fallback (docs/internals/speedups.md).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "publish.h"

static PyMethodDef methods[] = {
    {"configure_append", (PyCFunction)(void (*)(void))gw_configure_append, METH_FASTCALL,
     "Hand append the Draft, Entry and AppendResult classes and the fingerprint."},
    {"append", (PyCFunction)(void (*)(void))gw_memory_append, METH_FASTCALL,
     "MemoryLog.append_py's loop in C (memlog.c); None when it declines."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "gateway._publish",
    .m_doc = "The publish path's per-item loops around the log in C; see gateway/csrc/publish.c.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__publish(void)
{
    return PyModule_Create(&module);
}
