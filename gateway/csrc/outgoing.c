/* outgoing_notification: the `notification` event's Outgoing of one entry, made in C.
 *
 * The twin of gateway/connection/outgoing.py's Outgoing.notification_py: an Outgoing made
 * without __init__, its five slots set (event "notification", json None, ws the frame,
 * cursor, _sse None). The classmethod's frame, the object.__new__ call and five slot
 * stores cost ~3.5k instructions per entry (callgrind, service.deliver's largest step);
 * here it is one allocation and the frame's call. configure_outgoing resolves the slots'
 * offsets from the class's member descriptors once, and refuses a class laid out
 * otherwise (then the twin runs).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "publish.h"
#include "slots.h"

enum { EVENT, JSON, WS, CURSOR, SSE, NSLOTS };

static const char *const slot_names[NSLOTS] = {"event", "json", "ws", "cursor", "_sse"};

static struct {
    PyTypeObject *cls;
    PyObject *frame; /* outgoing._notification_frame (C or its twin) */
    PyObject *event; /* "notification" */
    Py_ssize_t offsets[NSLOTS];
    int ready;
} og;

PyObject *
gw_configure_outgoing(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 3 || !PyType_Check(args[0]) || !PyCallable_Check(args[1]) ||
        !PyUnicode_CheckExact(args[2])) {
        PyErr_SetString(PyExc_TypeError, "configure_outgoing(Outgoing, frame, event: str)");
        return NULL;
    }
    PyTypeObject *cls = (PyTypeObject *)args[0];
    if (cls->tp_dictoffset != 0 || cls->tp_itemsize != 0 || cls->tp_alloc == NULL) {
        PyErr_SetString(PyExc_TypeError, "configure_outgoing: Outgoing must have __slots__ only");
        return NULL;
    }
    Py_ssize_t offsets[NSLOTS];
    for (int i = 0; i < NSLOTS; i++) {
        PyObject *name = PyUnicode_InternFromString(slot_names[i]);
        if (name == NULL)
            return NULL;
        offsets[i] = slot_offset(cls, name);
        Py_DECREF(name);
        if (offsets[i] < 0) {
            PyErr_Format(PyExc_TypeError, "%s.%s is not an object slot", cls->tp_name,
                         slot_names[i]);
            return NULL;
        }
    }
    memcpy(og.offsets, offsets, sizeof offsets);
    Py_XSETREF(og.cls, (PyTypeObject *)Py_NewRef(args[0]));
    Py_XSETREF(og.frame, Py_NewRef(args[1]));
    Py_XSETREF(og.event, Py_NewRef(args[2]));
    og.ready = 1;
    Py_RETURN_NONE;
}

static void
store(PyObject *item, int slot, PyObject *value)
{
    PyObject **at = (PyObject **)((char *)item + og.offsets[slot]);
    Py_XSETREF(*at, value);
}

/* outgoing_notification(cursor, body) -> Outgoing */
PyObject *
gw_outgoing_notification(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "outgoing_notification(cursor, body)");
        return NULL;
    }
    if (!og.ready) {
        PyErr_SetString(PyExc_RuntimeError, "outgoing_notification before configure_outgoing");
        return NULL;
    }
    PyObject *ws = PyObject_Vectorcall(og.frame, args, 2, NULL);
    if (ws == NULL)
        return NULL;
    PyObject *item = og.cls->tp_alloc(og.cls, 0);
    if (item == NULL) {
        Py_DECREF(ws);
        return NULL;
    }
    store(item, EVENT, Py_NewRef(og.event));
    store(item, JSON, Py_NewRef(Py_None));
    store(item, WS, ws);
    store(item, CURSOR, Py_NewRef(args[0]));
    store(item, SSE, Py_NewRef(Py_None));
    return item;
}
