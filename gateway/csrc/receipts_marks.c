/* gateway._receipts: two marks compared without Python's tuple comparison.
 *
 * A mark is `(epoch, ms, n)`: a str and two ints (receipts/marks.py). An ack compares
 * its mark with the connection's (covers: four comparisons) and with the queued ack's
 * range (up to five): through PyObject_RichCompareBool each costs ~100-200 instructions
 * (the tuple's item-by-item equality, then the item's own comparison; `a > a` has no
 * identity short cut), ~1k of an ack. For marks of that shape, with both ints within a
 * long long, the order is read here in a few instructions and is the one Python's tuple
 * comparison gives (lexicographic: the first item that differs decides, str by code
 * point, int by value). Anything else (a subclass, another type, a huge int) is compared
 * by Python, so no answer is only this file's.
 */
#include "receipts.h"

/* The value of an exact int within a long long: 1 with *value, 0 otherwise. */
static inline int
small_int(PyObject *x, long long *value)
{
    if (!PyLong_CheckExact(x))
        return 0;
    int overflow = 0;
    *value = PyLong_AsLongLongAndOverflow(x, &overflow); /* an exact int: no error */
    return overflow == 0;
}

/* The order of two exact str (-1, 0, 1), or 2 when either is not one. */
static inline int
str_order(PyObject *a, PyObject *b)
{
    if (!PyUnicode_CheckExact(a) || !PyUnicode_CheckExact(b))
        return 2;
    if (a == b)
        return 0;
    int order = PyUnicode_Compare(a, b); /* two exact str: no error */
    return order < 0 ? -1 : order > 0;
}

int
mark_order(PyObject *a, PyObject *b)
{
    if (!PyTuple_CheckExact(a) || !PyTuple_CheckExact(b) || PyTuple_GET_SIZE(a) != 3 ||
        PyTuple_GET_SIZE(b) != 3)
        return 2;
    if (a == b)
        return 0; /* as Python's: every item equal to itself (identity), the same size */
    int order = str_order(PyTuple_GET_ITEM(a, 0), PyTuple_GET_ITEM(b, 0));
    if (order != 0)
        return order;
    for (Py_ssize_t i = 1; i < 3; i++) {
        PyObject *x = PyTuple_GET_ITEM(a, i), *y = PyTuple_GET_ITEM(b, i);
        if (x == y)
            continue;
        long long u, v;
        if (!small_int(x, &u) || !small_int(y, &v))
            return 2;
        if (u != v)
            return u < v ? -1 : 1;
    }
    return 0;
}

int
marks_compare(PyObject *a, PyObject *b, int op)
{
    int order = mark_order(a, b);
    switch (order == 2 ? -2 : op) {
    case Py_LT:
        return order < 0;
    case Py_LE:
        return order <= 0;
    case Py_GT:
        return order > 0;
    case Py_GE:
        return order >= 0;
    case Py_EQ:
        return order == 0;
    case Py_NE:
        return order != 0;
    default:
        return PyObject_RichCompareBool(a, b, op);
    }
}

int
epoch_differs(PyObject *a, PyObject *b)
{
    int order = str_order(a, b);
    if (order != 2)
        return order != 0;
    /* Python's `!=` (RichCompareBool would answer identical objects equal) */
    PyObject *differs = PyObject_RichCompare(a, b, Py_NE);
    if (differs == NULL)
        return -1;
    int truth = PyObject_IsTrue(differs);
    Py_DECREF(differs);
    return truth;
}
