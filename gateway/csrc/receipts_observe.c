/* gateway._receipts: observe_delivery, the publish-to-ack histogram's observations of a
 * batch of acks in one call (the twin: gateway/receipts/tracker.py's `observe_py`, which
 * says what it does). In Python the loop was ~0.7k instructions per notification turned
 * delivered, one per notification with every client acking.
 *
 * A batch's notifications are nearly all of one type, so their observations are gathered
 * per run of one histogram: its bucket counts and sum are read once, the run's
 * observations added in C (the bounds read once as doubles, the bucket by bisection),
 * and the counts and sum written back when the run ends. An attribute read and write and
 * a Python int and float per observation were ~1k instructions of an ack's ~4k
 * (scripts/profile-receipts, `apply`). The sum is added to in the twin's order, so the
 * doubles are the same; no Python code runs during a run (label_of ends one first), so
 * nobody sees the histogram between two of its observations. Anything not of the expected
 * types raises, after what the run had gathered was written back (as the twin leaves
 * the observations before the bad one). */
#include "receipts.h"

#include <string.h>

static PyObject *n_counts, *n_sum;

/* One run: the histogram observed, what it had and what the run adds. */
typedef struct {
    PyObject *histogram; /* strong, or NULL between runs */
    PyObject *key;       /* the type it was found under in `histograms` (borrowed): a pair
                          * whose type is this very object needs no lookup. NULL when
                          * label_of named it (the twin asks label_of each time). */
    PyObject *counts;    /* strong: histogram.counts, a list */
    double sum;
    Py_ssize_t *added; /* per bucket, how many this run observed */
    Py_ssize_t buckets;
    int dirty;
} Run;

/* bisect_left(bounds, value) over the bounds as doubles */
static Py_ssize_t
bucket(const double *bounds, Py_ssize_t n, double value)
{
    Py_ssize_t lo = 0, hi = n;
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi) / 2;
        if (bounds[mid] < value)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Write the run's counts and sum back to its histogram and end it. */
static int
flush(Run *run)
{
    int failed = 0;
    if (run->histogram != NULL && run->dirty) {
        for (Py_ssize_t i = 0; i < run->buckets && !failed; i++) {
            if (run->added[i] == 0)
                continue;
            if (i >= PyList_GET_SIZE(run->counts)) {
                PyErr_SetString(PyExc_IndexError, "observe_delivery: counts shorter than bounds");
                failed = 1;
                break;
            }
            PyObject *more = PyLong_FromSsize_t(run->added[i]);
            PyObject *total =
                more == NULL ? NULL : PyNumber_Add(PyList_GET_ITEM(run->counts, i), more);
            Py_XDECREF(more);
            failed = total == NULL || PyList_SetItem(run->counts, i, total) < 0; /* steals */
        }
        if (!failed) {
            PyObject *sum = PyFloat_FromDouble(run->sum);
            failed = sum == NULL || PyObject_SetAttr(run->histogram, n_sum, sum) < 0;
            Py_XDECREF(sum);
        }
    }
    Py_CLEAR(run->histogram);
    Py_CLEAR(run->counts);
    run->key = NULL;
    run->dirty = 0;
    memset(run->added, 0, (size_t)run->buckets * sizeof(Py_ssize_t));
    return failed ? -1 : 0;
}

/* Start a run on `histogram` (a new reference, taken). */
static int
begin(Run *run, PyObject *histogram, PyObject *key)
{
    run->histogram = histogram;
    run->key = key;
    run->counts = PyObject_GetAttr(histogram, n_counts);
    if (run->counts == NULL)
        return -1;
    if (!PyList_Check(run->counts)) {
        PyErr_SetString(PyExc_TypeError, "observe_delivery: a histogram's counts is not a list");
        return -1;
    }
    PyObject *sum = PyObject_GetAttr(histogram, n_sum);
    if (sum == NULL)
        return -1;
    run->sum = PyFloat_AsDouble(sum);
    Py_DECREF(sum);
    return run->sum == -1.0 && PyErr_Occurred() ? -1 : 0;
}

/* The histogram for `type` becomes the run's (the same run when it is the same one). */
static int
switch_to(Run *run, PyObject *histograms, PyObject *label_of, PyObject *type)
{
    PyObject *found = PyDict_GetItemWithError(histograms, type), *key = type;
    if (found != NULL)
        Py_INCREF(found);
    else if (PyErr_Occurred())
        return -1;
    else {
        if (flush(run) < 0) /* label_of is Python: the histograms as the twin leaves them */
            return -1;
        found = PyObject_CallOneArg(label_of, type);
        if (found == NULL)
            return -1;
        key = NULL;
    }
    if (found == run->histogram) {
        Py_DECREF(found);
        run->key = key;
        return 0;
    }
    if (flush(run) < 0) {
        Py_DECREF(found);
        return -1;
    }
    return begin(run, found, key);
}

static int
observe_all(Run *run, PyObject *const *args, const double *bounds, Py_ssize_t n, double now,
            Py_ssize_t at_i, Py_ssize_t type_i)
{
    PyObject *published = args[0], *histograms = args[1], *label_of = args[4];
    Py_ssize_t size = at_i > type_i ? at_i + 1 : type_i + 1;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(published); i++) {
        PyObject *pair = PyList_GET_ITEM(published, i);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) < size) {
            PyErr_SetString(PyExc_TypeError, "observe_delivery: (published_at, type) pairs "
                                             "or tuples holding both at the positions given");
            return -1;
        }
        PyObject *type = PyTuple_GET_ITEM(pair, type_i);
        Py_INCREF(pair); /* label_of may be anyone's code */
        if (run->histogram == NULL || run->key == NULL || type != run->key) {
            if (switch_to(run, histograms, label_of, type) < 0) {
                Py_DECREF(pair);
                return -1;
            }
        }
        /* read after the histogram, as the twin's `now - published_at` */
        PyObject *at_obj = PyTuple_GET_ITEM(pair, at_i);
        double at = PyFloat_CheckExact(at_obj) ? PyFloat_AS_DOUBLE(at_obj)
                                               : PyFloat_AsDouble(at_obj);
        Py_DECREF(pair);
        if (at == -1.0 && PyErr_Occurred())
            return -1;
        double seconds = now - at;
        if (seconds < 0.0)
            seconds = 0.0;
        Py_ssize_t b = bucket(bounds, n, seconds);
        if (b >= PyList_GET_SIZE(run->counts)) {
            PyErr_SetString(PyExc_IndexError, "observe_delivery: counts shorter than bounds");
            return -1;
        }
        run->added[b]++;
        run->sum += seconds;
        run->dirty = 1;
    }
    return 0;
}

/* observe_delivery(published, histograms, bounds, now, label_of[, at, type_at]) -> None:
 * each entry's publish time at `at` and type at `type_at` (0 and 1: a pair; a Tracked's
 * for the memory store's Applied.delivered) */
PyObject *
observe_delivery(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if ((nargs != 5 && nargs != 7) || !PyList_Check(args[0]) || !PyDict_Check(args[1]) ||
        !PyTuple_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "observe_delivery(published: list, histograms: "
                                         "dict, bounds: tuple, now, label_of[, at, type_at])");
        return NULL;
    }
    Py_ssize_t at_i = 0, type_i = 1;
    if (nargs == 7) {
        at_i = PyLong_AsSsize_t(args[5]);
        if (at_i == -1 && PyErr_Occurred())
            return NULL;
        type_i = PyLong_AsSsize_t(args[6]);
        if (type_i == -1 && PyErr_Occurred())
            return NULL;
        if (at_i < 0 || type_i < 0) {
            PyErr_SetString(PyExc_ValueError, "observe_delivery: negative positions");
            return NULL;
        }
    }
    if (n_sum == NULL) {
        n_counts = PyUnicode_InternFromString("counts");
        n_sum = PyUnicode_InternFromString("sum");
        if (n_counts == NULL || n_sum == NULL) {
            Py_CLEAR(n_sum);
            return NULL;
        }
    }
    if (PyList_GET_SIZE(args[0]) == 0)
        Py_RETURN_NONE;
    double now = PyFloat_AsDouble(args[3]);
    if (now == -1.0 && PyErr_Occurred())
        return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(args[2]);
    double *bounds = PyMem_Malloc((size_t)(n + 1) * sizeof(double));
    Py_ssize_t *added = PyMem_Calloc((size_t)(n + 1), sizeof(Py_ssize_t));
    if (bounds == NULL || added == NULL) {
        PyMem_Free(bounds);
        PyMem_Free(added);
        return PyErr_NoMemory();
    }
    Run run = {NULL, NULL, NULL, 0.0, added, n + 1, 0};
    int failed = 0;
    for (Py_ssize_t i = 0; i < n && !failed; i++) {
        bounds[i] = PyFloat_AsDouble(PyTuple_GET_ITEM(args[2], i));
        failed = bounds[i] == -1.0 && PyErr_Occurred();
    }
    if (!failed)
        failed = observe_all(&run, args, bounds, n, now, at_i, type_i) < 0;
    if (failed) { /* what the run gathered still counts, as in the twin */
        PyObject *type, *value, *traceback;
        PyErr_Fetch(&type, &value, &traceback);
        if (flush(&run) < 0)
            PyErr_Clear();
        PyErr_Restore(type, value, traceback);
    }
    else
        failed = flush(&run) < 0;
    PyMem_Free(bounds);
    PyMem_Free(added);
    if (failed)
        return NULL;
    Py_RETURN_NONE;
}
