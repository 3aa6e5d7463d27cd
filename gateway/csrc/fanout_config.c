/* configure_write_each: what write_each (fanout.c) reads once, not per call: the
 * Outbox's slots' offsets from the class's member descriptors (each checked to be an
 * object slot, through the MRO), the names it calls, and the fd look-up. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "fanout.h"
#include "slots.h"
#include "speedups.h"

FanoutState fanout;

static const char *const slot_names[NSLOTS] = {
    "_ws", "_backlog", "held", "closed", "_pending", "_sink", "_fd", "_context", "_acked",
};

static PyObject *
intern(const char *name)
{
    return PyUnicode_InternFromString(name);
}

/* configure_write_each(Outbox, direct_fd): the slots' offsets, the fd look-up. */
PyObject *
gw_configure_write_each(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 2 || !PyType_Check(args[0]) || !PyCallable_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "configure_write_each(Outbox, direct_fd)");
        return NULL;
    }
    PyTypeObject *outbox = (PyTypeObject *)args[0];
    PyObject *names[NSLOTS] = {NULL};
    PyObject *descrs[NSLOTS] = {NULL};
    Py_ssize_t offsets[NSLOTS];
    for (int i = 0; i < NSLOTS; i++) {
        names[i] = intern(slot_names[i]);
        if (names[i] == NULL)
            goto fail;
        /* through the MRO: a slot may be a base's (the receipts' `_acked`: AckWindow) */
        PyObject *descr = _PyType_Lookup(outbox, names[i]);
        offsets[i] = member_offset(descr);
        if (offsets[i] < 0) {
            PyErr_Format(PyExc_TypeError,
                         descr != NULL && Py_TYPE(descr) == &PyMemberDescr_Type
                             ? "%s.%s is not an object slot"
                             : "%s.%s is not a slot",
                         outbox->tp_name, slot_names[i]);
            goto fail;
        }
        descrs[i] = Py_NewRef(descr);
    }
    if (fanout.s_ws == NULL) {
        fanout.s_ws = intern("ws");
        fanout.s_limit = intern("limit");
        fanout.s_is_closing = intern("is_closing");
        fanout.s_get_write_buffer_size = intern("get_write_buffer_size");
        fanout.s_writelines = intern("writelines");
        fanout.s_discard = intern("_discard");
        fanout.s_too_slow = intern("_too_slow");
        fanout.s_note = intern("_note");
        fanout.s_send = intern("send");
        if (fanout.s_ws == NULL || fanout.s_limit == NULL || fanout.s_is_closing == NULL ||
            fanout.s_get_write_buffer_size == NULL || fanout.s_writelines == NULL ||
            fanout.s_discard == NULL || fanout.s_too_slow == NULL || fanout.s_note == NULL ||
            fanout.s_send == NULL)
            goto fail;
    }
    for (int i = 0; i < fanout.nknown; i++)
        Py_CLEAR(fanout.known[i]);
    fanout.nknown = 0;
    for (int i = 0; i < NSLOTS; i++) {
        Py_XSETREF(fanout.names[i], names[i]);
        Py_XSETREF(fanout.descrs[i], descrs[i]);
        fanout.offsets[i] = offsets[i];
    }
    Py_XSETREF(fanout.outbox, (PyTypeObject *)Py_NewRef(args[0]));
    Py_XSETREF(fanout.direct_fd, Py_NewRef(args[1]));
    fanout.ready = 1;
    Py_RETURN_NONE;
fail:
    for (int i = 0; i < NSLOTS; i++) {
        Py_XDECREF(names[i]);
        Py_XDECREF(descrs[i]);
    }
    return NULL;
}

