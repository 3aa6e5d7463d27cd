/* tuple_maker: a NamedTuple made from a tuple of its leading fields, the rest defaults.
 *
 * The twin of gateway/models.py's tuple_maker_py (`partial(tuple.__new__, cls)`, with
 * `values + tail` when later fields take defaults). Through partial and tuple.__new__'s
 * wrapper a call cost ~1k instructions, and the publish pipeline makes several tuples per
 * notification (Draft, Entry, AppendResult, ...): here it is one allocation and a copy.
 * Anything but an exact tuple of values goes to the Python twin (which raises as before).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "speedups.h"

/* self: (cls, tail, fallback) */
static PyObject *
make(PyObject *self, PyObject *values)
{
    PyTypeObject *cls = (PyTypeObject *)PyTuple_GET_ITEM(self, 0);
    PyObject *tail = PyTuple_GET_ITEM(self, 1);
    if (!PyTuple_CheckExact(values))
        return PyObject_CallOneArg(PyTuple_GET_ITEM(self, 2), values);
    Py_ssize_t n = PyTuple_GET_SIZE(values), extra = PyTuple_GET_SIZE(tail);
    PyObject *made = cls->tp_alloc(cls, n + extra);
    if (made == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++)
        PyTuple_SET_ITEM(made, i, Py_NewRef(PyTuple_GET_ITEM(values, i)));
    for (Py_ssize_t i = 0; i < extra; i++)
        PyTuple_SET_ITEM(made, n + i, Py_NewRef(PyTuple_GET_ITEM(tail, i)));
    return made;
}

static PyMethodDef make_def = {"make", make, METH_O,
                               "A NamedTuple from a tuple of its leading fields (models.tuple_maker)."};

PyObject *
gw_tuple_maker(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 3 || !PyType_Check(args[0]) || !PyTuple_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "tuple_maker(cls, tail: tuple, fallback)");
        return NULL;
    }
    PyTypeObject *cls = (PyTypeObject *)args[0];
    if (!PyType_IsSubtype(cls, &PyTuple_Type) || cls->tp_itemsize != sizeof(PyObject *) ||
        cls->tp_basicsize != PyTuple_Type.tp_basicsize) {
        PyErr_SetString(PyExc_TypeError, "tuple_maker: cls must be a NamedTuple");
        return NULL;
    }
    PyObject *bound = PyTuple_Pack(3, args[0], args[1], args[2]);
    if (bound == NULL)
        return NULL;
    PyObject *maker = PyCFunction_New(&make_def, bound);
    Py_DECREF(bound);
    return maker;
}
