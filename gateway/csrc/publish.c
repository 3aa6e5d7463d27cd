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
    {"configure_drafts", (PyCFunction)(void (*)(void))gw_configure_drafts, METH_FASTCALL,
     "Hand drafts_of the item and Draft classes and the encode."},
    {"drafts_of", (PyCFunction)(void (*)(void))gw_drafts_of, METH_FASTCALL,
     "A common batch's Drafts, as drafts.drafts_of_py (drafts.c); None: the service's loop."},
    {"tally", gw_tally, METH_O,
     "(published, delivered, duplicates, conflicts) of results, as drafts.tally_py; or None."},
    {"configure_outgoing", (PyCFunction)(void (*)(void))gw_configure_outgoing, METH_FASTCALL,
     "Hand outgoing_notification the Outgoing class (its slots), the frame maker, the event."},
    {"outgoing_notification", (PyCFunction)(void (*)(void))gw_outgoing_notification,
     METH_FASTCALL, "Outgoing.notification_py's item, in C (outgoing.c)."},
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
