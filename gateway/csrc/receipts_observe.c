/* gateway._receipts: observe_delivery, the publish-to-ack histogram's observations of a
 * batch of acks in one call (the twin: gateway/receipts/tracker.py's `observe_py`, which
 * says what it does). In Python the loop was ~0.7k instructions per notification turned
 * delivered, one per notification with every client acking. The arithmetic is the twin's,
 * in the same order (the same doubles); anything not of the expected types raises. */
#include "receipts.h"

static PyObject *n_counts, *n_sum;

/* bisect_left(bounds, value) over a tuple of numbers */
static Py_ssize_t
bucket(PyObject *bounds, double value)
{
    Py_ssize_t lo = 0, hi = PyTuple_GET_SIZE(bounds);
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi) / 2;
        double bound = PyFloat_AsDouble(PyTuple_GET_ITEM(bounds, mid));
        if (bound == -1.0 && PyErr_Occurred())
            return -1;
        if (bound < value)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int
observe_one(PyObject *histogram, PyObject *bounds, double seconds)
{
    PyObject *counts = PyObject_GetAttr(histogram, n_counts);
    if (counts == NULL)
        return -1;
    int failed = 1;
    Py_ssize_t i = bucket(bounds, seconds);
    if (i >= 0 && (!PyList_Check(counts) || i >= PyList_GET_SIZE(counts)))
        PyErr_SetString(PyExc_IndexError, "observe_delivery: counts shorter than bounds");
    else if (i >= 0) {
        PyObject *one = PyLong_FromLong(1);
        PyObject *more = one == NULL ? NULL : PyNumber_Add(PyList_GET_ITEM(counts, i), one);
        Py_XDECREF(one);
        if (more != NULL && PyList_SetItem(counts, i, more) == 0) { /* steals more */
            PyObject *sum = PyObject_GetAttr(histogram, n_sum);
            double total = sum == NULL ? -1.0 : PyFloat_AsDouble(sum);
            Py_XDECREF(sum);
            if (sum != NULL && !(total == -1.0 && PyErr_Occurred())) {
                PyObject *added = PyFloat_FromDouble(total + seconds);
                failed = added == NULL || PyObject_SetAttr(histogram, n_sum, added) < 0;
                Py_XDECREF(added);
            }
        }
    }
    Py_DECREF(counts);
    return failed ? -1 : 0;
}

/* observe_delivery(published, histograms, bounds, now, label_of) -> None */
PyObject *
observe_delivery(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5 || !PyList_Check(args[0]) || !PyDict_Check(args[1]) ||
        !PyTuple_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "observe_delivery(published: list, histograms: "
                                         "dict, bounds: tuple, now, label_of)");
        return NULL;
    }
    if (n_sum == NULL) {
        n_counts = PyUnicode_InternFromString("counts");
        n_sum = PyUnicode_InternFromString("sum");
        if (n_counts == NULL || n_sum == NULL) {
            Py_CLEAR(n_sum);
            return NULL;
        }
    }
    PyObject *published = args[0], *histograms = args[1], *bounds = args[2];
    double now = PyFloat_AsDouble(args[3]);
    if (now == -1.0 && PyErr_Occurred())
        return NULL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(published); i++) {
        PyObject *pair = PyList_GET_ITEM(published, i);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
            PyErr_SetString(PyExc_TypeError, "observe_delivery: (published_at, type) pairs");
            return NULL;
        }
        Py_INCREF(pair);
        double at = PyFloat_AsDouble(PyTuple_GET_ITEM(pair, 0));
        PyObject *type = PyTuple_GET_ITEM(pair, 1);
        PyObject *histogram = NULL;
        if (!(at == -1.0 && PyErr_Occurred())) {
            histogram = PyDict_GetItemWithError(histograms, type);
            if (histogram != NULL)
                Py_INCREF(histogram);
            else if (!PyErr_Occurred())
                histogram = PyObject_CallOneArg(args[4], type);
        }
        double seconds = now - at;
        if (seconds < 0.0)
            seconds = 0.0;
        int failed = histogram == NULL || observe_one(histogram, bounds, seconds) < 0;
        Py_XDECREF(histogram);
        Py_DECREF(pair);
        if (failed)
            return NULL;
    }
    Py_RETURN_NONE;
}
