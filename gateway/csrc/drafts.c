/* drafts_of and tally: NotificationService.publish_many's two per-item loops, in C.
 *
 * The twins are gateway/drafts.py's drafts_of_py and tally_py. drafts_of makes the
 * batch's Drafts when every item is of the common form (a PublishItem whose notification
 * is a NotificationItem with no receipt deadline, encoded within the size limit): then
 * no item has an outcome but its result. Anything else returns None, and publish_many's
 * Python loop decides every item (the type registry, an Invalid's message, receipts),
 * as before. tally counts the results the way publish_many's loop did. In Python the two
 * loops cost ~3.4k instructions per notification besides the encode (callgrind).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "publish.h"

static struct {
    PyTypeObject *publish_item;
    PyTypeObject *notification_item;
    PyTypeObject *draft;
    PyObject *draft_tail; /* the defaults of Draft's fields after the 6 made here */
    PyObject *encode;     /* models.encode_notification (C or its twin) */
    int ready;
} dr;

PyObject *
gw_configure_drafts(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 5 || !PyType_Check(args[0]) || !PyType_Check(args[1]) ||
        !PyType_Check(args[2]) || !PyTuple_CheckExact(args[3])) {
        PyErr_SetString(PyExc_TypeError, "configure_drafts(PublishItem, NotificationItem, "
                                         "Draft, draft_tail, encode)");
        return NULL;
    }
    for (int i = 0; i < 3; i++) {
        PyTypeObject *type = (PyTypeObject *)args[i];
        if (!PyType_IsSubtype(type, &PyTuple_Type) || type->tp_itemsize != sizeof(PyObject *) ||
            type->tp_basicsize != PyTuple_Type.tp_basicsize) {
            PyErr_SetString(PyExc_TypeError, "configure_drafts: the classes must be NamedTuples");
            return NULL;
        }
    }
    Py_XSETREF(dr.publish_item, (PyTypeObject *)Py_NewRef(args[0]));
    Py_XSETREF(dr.notification_item, (PyTypeObject *)Py_NewRef(args[1]));
    Py_XSETREF(dr.draft, (PyTypeObject *)Py_NewRef(args[2]));
    Py_XSETREF(dr.draft_tail, Py_NewRef(args[3]));
    Py_XSETREF(dr.encode, Py_NewRef(args[4]));
    dr.ready = 1;
    Py_RETURN_NONE;
}

/* The item's Draft (a new reference); NULL without an error to decline the batch. */
static PyObject *
draft_of(PyObject *item, Py_ssize_t max_bytes, PyObject *trace)
{
    if (!Py_IS_TYPE(item, dr.publish_item) || PyTuple_GET_SIZE(item) < 2)
        return NULL;
    PyObject *n = PyTuple_GET_ITEM(item, 1);
    /* receipt_deadline (the ninth field) set: the Python loop asks receipts */
    if (!Py_IS_TYPE(n, dr.notification_item) || PyTuple_GET_SIZE(n) < 9 ||
        PyTuple_GET_ITEM(n, 8) != Py_None)
        return NULL;
    PyObject *body = PyObject_CallOneArg(dr.encode, n);
    if (body == NULL)
        return NULL;
    if (!PyBytes_CheckExact(body) || PyBytes_GET_SIZE(body) > max_bytes) {
        Py_DECREF(body); /* over the limit: the Python loop phrases the Invalid */
        return NULL;
    }
    Py_ssize_t extra = PyTuple_GET_SIZE(dr.draft_tail);
    PyObject *draft = dr.draft->tp_alloc(dr.draft, 6 + extra);
    if (draft == NULL) {
        Py_DECREF(body);
        return NULL;
    }
    PyTuple_SET_ITEM(draft, 0, Py_NewRef(PyTuple_GET_ITEM(item, 0))); /* target */
    PyTuple_SET_ITEM(draft, 1, Py_NewRef(PyTuple_GET_ITEM(n, 0)));    /* id */
    PyTuple_SET_ITEM(draft, 2, body);
    PyTuple_SET_ITEM(draft, 3, Py_NewRef(PyTuple_GET_ITEM(n, 7))); /* ttl */
    PyTuple_SET_ITEM(draft, 4, Py_NewRef(Py_None));                /* receipt_until */
    PyTuple_SET_ITEM(draft, 5, Py_NewRef(trace));
    for (Py_ssize_t i = 0; i < extra; i++)
        PyTuple_SET_ITEM(draft, 6 + i, Py_NewRef(PyTuple_GET_ITEM(dr.draft_tail, i)));
    return draft;
}

/* drafts_of(items, max_bytes, trace) -> list of Drafts, or None to decline. */
PyObject *
gw_drafts_of(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 3 || !PyList_CheckExact(args[0]) || !PyLong_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "drafts_of(items: list, max_bytes: int, trace)");
        return NULL;
    }
    if (!dr.ready) {
        PyErr_SetString(PyExc_RuntimeError, "drafts_of before configure_drafts");
        return NULL;
    }
    PyObject *items = args[0];
    Py_ssize_t max_bytes = PyLong_AsSsize_t(args[1]);
    if (max_bytes == -1 && PyErr_Occurred())
        return NULL;
    Py_ssize_t count = PyList_GET_SIZE(items);
    PyObject *drafts = PyList_New(count);
    if (drafts == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < count; i++) {
        /* the encode may run the Python twin: the item is held, the list re-read */
        PyObject *item = i < PyList_GET_SIZE(items) ? Py_NewRef(PyList_GET_ITEM(items, i)) : NULL;
        PyObject *draft = item == NULL ? NULL : draft_of(item, max_bytes, args[2]);
        Py_XDECREF(item);
        if (draft == NULL) {
            Py_DECREF(drafts);
            if (PyErr_Occurred())
                return NULL;
            Py_RETURN_NONE;
        }
        PyList_SET_ITEM(drafts, i, draft);
    }
    return drafts;
}

/* tally(results) -> (published, delivered, duplicates, conflicts), or None to decline
 * (a result that is not a tuple of four or more, a count that is not an int). */
PyObject *
gw_tally(PyObject *self, PyObject *results)
{
    (void)self;
    if (!PyList_CheckExact(results)) {
        PyErr_SetString(PyExc_TypeError, "tally(results: list)");
        return NULL;
    }
    long long published = 0, delivered = 0, duplicates = 0, conflicts = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(results); i++) {
        PyObject *result = PyList_GET_ITEM(results, i);
        if (!PyTuple_Check(result) || PyTuple_GET_SIZE(result) < 4)
            Py_RETURN_NONE;
        PyObject *count = PyTuple_GET_ITEM(result, 1), *duplicate = PyTuple_GET_ITEM(result, 2),
                 *conflict = PyTuple_GET_ITEM(result, 3);
        if (!PyBool_Check(duplicate) || !PyBool_Check(conflict) || !PyLong_CheckExact(count))
            Py_RETURN_NONE;
        if (conflict == Py_True) {
            conflicts++;
        } else if (duplicate == Py_True) {
            duplicates++;
        } else {
            int overflow;
            long long n = PyLong_AsLongLongAndOverflow(count, &overflow);
            if (overflow || n > LLONG_MAX / 2 || n < LLONG_MIN / 2 ||
                (delivered > 0 && n > LLONG_MAX - delivered) ||
                (delivered < 0 && n < LLONG_MIN - delivered))
                Py_RETURN_NONE;
            published++;
            delivered += n;
        }
    }
    return Py_BuildValue("(LLLL)", published, delivered, duplicates, conflicts);
}
