/* configure and configure_json: what read_batch (batch.c) works with, handed over once
 * (gateway/grpc/accept.py's configure, translate.py's configure_json) and checked here,
 * so that the per-item code reads it as it is. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "batch.h"
#include "speedups.h"

BatchConfig batch_cfg;

PyObject *
gw_configure_json(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 1) {
        PyErr_SetString(PyExc_TypeError, "configure_json(from_json)");
        return NULL;
    }
    if (batch_cfg.from_json_kwnames == NULL) {
        batch_cfg.from_json_kwnames = Py_BuildValue("(s)", "allow_inf_nan");
        if (batch_cfg.from_json_kwnames == NULL)
            return NULL;
    }
    Py_XSETREF(batch_cfg.from_json, Py_NewRef(args[0]));
    Py_RETURN_NONE;
}

static void
replace(PyObject **slot, PyObject *value)
{
    Py_XSETREF(*slot, Py_NewRef(value));
}

PyObject *
gw_configure(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 15) {
        PyErr_SetString(PyExc_TypeError, "configure takes 15 arguments");
        return NULL;
    }
    if (!PyDict_CheckExact(args[0]) || !PyDict_CheckExact(args[2]) ||
        !PyDict_CheckExact(args[5]) || !PyType_Check(args[8]) || !PyTuple_Check(args[9]) ||
        PyTuple_GET_SIZE(args[9]) != 5 || !PyType_Check(args[10]) || !PyType_Check(args[11]) ||
        !PyLong_Check(args[12]) || !PyTuple_CheckExact(args[13]) ||
        !PyTuple_CheckExact(args[14])) {
        PyErr_SetString(PyExc_TypeError, "configure: unexpected argument types");
        return NULL;
    }
    PyTypeObject *items[2] = {(PyTypeObject *)args[10], (PyTypeObject *)args[11]};
    for (int i = 0; i < 2; i++) {
        if (!PyType_IsSubtype(items[i], &PyTuple_Type) || items[i]->tp_itemsize != sizeof(PyObject *)) {
            PyErr_SetString(PyExc_TypeError, "configure: the item classes must be tuples");
            return NULL;
        }
    }
    Py_ssize_t max_items = PyLong_AsSsize_t(args[12]);
    if (max_items == -1 && PyErr_Occurred())
        return NULL;
    replace(&batch_cfg.users, args[0]);
    replace(&batch_cfg.users_miss, args[1]);
    replace(&batch_cfg.topics, args[2]);
    replace(&batch_cfg.topics_miss, args[3]);
    replace(&batch_cfg.everyone, args[4]);
    replace(&batch_cfg.types, args[5]);
    replace(&batch_cfg.known_type, args[6]);
    replace(&batch_cfg.data_json, args[7]);
    replace(&batch_cfg.invalid, args[8]);
    for (int i = 0; i < 5; i++)
        replace(&batch_cfg.priorities[i], PyTuple_GET_ITEM(args[9], i));
    replace(&batch_cfg.publish_item, args[10]);
    replace(&batch_cfg.notification_item, args[11]);
    replace(&batch_cfg.publish_tail, args[13]);
    replace(&batch_cfg.notification_tail, args[14]);
    batch_cfg.max_items = max_items;
    batch_cfg.ready = 1;
    Py_RETURN_NONE;
}
