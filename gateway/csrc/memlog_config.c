/* configure_append: what append (memlog.c) works with, handed over once by
 * gateway/log/memory.py and checked here: the Draft, Entry and AppendResult classes (each
 * a plain NamedTuple, so append fills them as tuples), the fingerprint, and the names. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "memlog.h"
#include "publish.h"

MemlogConfig memlog;

static int
intern_names(void)
{
    if (memlog.s_by_id != NULL)
        return 0;
    struct {
        PyObject **slot;
        const char *name;
    } names[] = {
        {&memlog.s_by_id, "_by_id"},
        {&memlog.s_entries, "_entries"},
        {&memlog.s_id_expiry, "_id_expiry"},
        {&memlog.s_window, "_window"},
        {&memlog.s_max_ids, "_max_ids"},
        {&memlog.s_max_entries, "_max_entries"},
        {&memlog.s_epoch, "_epoch"},
        {&memlog.s_seq, "_seq"},
        {&memlog.s_evicted, "_evicted_through"},
        {&memlog.s_append, "append"},
        {&memlog.s_popleft, "popleft"},
        {&memlog.s_total_seconds, "total_seconds"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        *names[i].slot = PyUnicode_InternFromString(names[i].name);
        if (*names[i].slot == NULL)
            return -1;
    }
    return 0;
}

static int
is_named_tuple(PyObject *cls)
{
    PyTypeObject *type = (PyTypeObject *)cls;
    return PyType_Check(cls) && PyType_IsSubtype(type, &PyTuple_Type) &&
           type->tp_itemsize == sizeof(PyObject *) &&
           type->tp_basicsize == PyTuple_Type.tp_basicsize;
}

PyObject *
gw_configure_append(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 6 || !is_named_tuple(args[0]) || !is_named_tuple(args[1]) ||
        !PyTuple_CheckExact(args[2]) || !is_named_tuple(args[3]) ||
        !PyTuple_CheckExact(args[4])) {
        PyErr_SetString(PyExc_TypeError, "configure_append(Draft, Entry, entry_tail, "
                                         "AppendResult, result_tail, fingerprint)");
        return NULL;
    }
    if (intern_names() < 0)
        return NULL;
    Py_XSETREF(memlog.draft, (PyTypeObject *)Py_NewRef(args[0]));
    Py_XSETREF(memlog.entry, (PyTypeObject *)Py_NewRef(args[1]));
    Py_XSETREF(memlog.entry_tail, Py_NewRef(args[2]));
    Py_XSETREF(memlog.result, (PyTypeObject *)Py_NewRef(args[3]));
    Py_XSETREF(memlog.result_tail, Py_NewRef(args[4]));
    Py_XSETREF(memlog.fingerprint, Py_NewRef(args[5]));
    memlog.ready = 1;
    Py_RETURN_NONE;
}
