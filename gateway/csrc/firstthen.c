/* first_then(first, rest): ClientOps' `received` for a text frame, when a first reader is
 * registered (receipts' ack taker): `rest(conn, text)` unless the connection is open and
 * `first(conn, text)` took the frame. Its twin is dispatch.py's `first_then_py`.
 *
 * Most frames a client sends with receipts on are acks, which the (compiled) first reader
 * takes whole; in Python this function was a frame of its own between the edge and the
 * reader, ~0.6k instructions an ack (scripts/profile-receipts), here a call.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "speedups.h"

static PyObject *s_closed;

static PyObject *
received(PyObject *bound, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "received(conn, text) takes 2 arguments");
        return NULL;
    }
    PyObject *first = PyTuple_GET_ITEM(bound, 0), *rest = PyTuple_GET_ITEM(bound, 1);
    PyObject *closed = PyObject_GetAttr(args[0], s_closed);
    if (closed == NULL)
        return NULL;
    int ended = closed == Py_False ? 0 : closed == Py_True ? 1 : PyObject_IsTrue(closed);
    Py_DECREF(closed);
    if (ended < 0)
        return NULL;
    if (!ended) {
        PyObject *took = PyObject_Vectorcall(first, args, 2, NULL);
        if (took == NULL)
            return NULL;
        int done = took == Py_True ? 1 : took == Py_False ? 0 : PyObject_IsTrue(took);
        Py_DECREF(took);
        if (done != 0)
            return done < 0 ? NULL : Py_NewRef(Py_None);
    }
    return PyObject_Vectorcall(rest, args, 2, NULL);
}

static PyMethodDef received_def = {
    "received", (PyCFunction)(void (*)(void))received, METH_FASTCALL,
    "received(conn, text) -> None: first(conn, text) on an open connection, else rest"};

PyObject *
gw_first_then(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyCallable_Check(args[0]) || !PyCallable_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "first_then(first, rest): two callables");
        return NULL;
    }
    if (s_closed == NULL && (s_closed = PyUnicode_InternFromString("closed")) == NULL)
        return NULL;
    PyObject *bound = PyTuple_Pack(2, args[0], args[1]);
    if (bound == NULL)
        return NULL;
    PyObject *function = PyCFunction_New(&received_def, bound);
    Py_DECREF(bound);
    return function;
}
