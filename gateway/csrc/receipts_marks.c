/* gateway._receipts: marks, made from cursors and compared.
 *
 * Made (mark_of, common_mark, log_mark): a cursor's text read into `(epoch, ms, n)` as
 * marks.mark_parts does, its epoch one object while it stays the same (`last_epoch`), so
 * the comparisons meet identical objects.
 *
 * Compared (mark_order, marks_compare) without Python's tuple comparison. A mark is
 * `(epoch, ms, n)`: a str and two ints (receipts/marks.py). An ack compares its mark with
 * the connection's (covers: four comparisons) and with the queued ack's range (up to
 * five): through PyObject_RichCompareBool each costs ~100-200 instructions
 * (the tuple's item-by-item equality, then the item's own comparison; `a > a` has no
 * identity short cut), ~1k of an ack. For marks of that shape, with both ints within a
 * long long, the order is read here in a few instructions and is the one Python's tuple
 * comparison gives (lexicographic: the first item that differs decides, str by code
 * point, int by value). Anything else (a subclass, another type, a huge int) is compared
 * by Python, so no answer is only this file's.
 */
#include "receipts.h"

#include <string.h>

#define STORE_MAX 40
#define DIGITS_MAX 19

/* The last epoch made, reused while acks name the same one (a connection's acks always
 * do): the mark's comparisons then meet the same object. */
static PyObject *last_epoch;

static int
is_store_char(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '.';
}

/* `<store>-<n>` at s[0:len] as `Cursor.parse`'s shape ([0-9a-z.]{1,40}-[0-9]{1,19}):
 * the length of the store, or -1. */
Py_ssize_t
cursor_shape(const unsigned char *s, Py_ssize_t len)
{
    Py_ssize_t i = 0;
    while (i < len && is_store_char(s[i]))
        i++;
    if (i < 1 || i > STORE_MAX || i >= len || s[i] != '-')
        return -1;
    Py_ssize_t digits = len - i - 1;
    if (digits < 1 || digits > DIGITS_MAX)
        return -1;
    for (Py_ssize_t j = i + 1; j < len; j++)
        if (s[j] < '0' || s[j] > '9')
            return -1;
    return i;
}

static unsigned long long
number(const unsigned char *s, Py_ssize_t len) /* at most 19 ASCII digits: fits */
{
    unsigned long long value = 0;
    for (Py_ssize_t i = 0; i < len; i++)
        value = value * 10 + (unsigned long long)(s[i] - '0');
    return value;
}

static PyObject *
epoch_of(const unsigned char *s, Py_ssize_t len)
{
    if (last_epoch != NULL && PyUnicode_GET_LENGTH(last_epoch) == len &&
        memcmp(PyUnicode_1BYTE_DATA(last_epoch), s, (size_t)len) == 0) {
        Py_INCREF(last_epoch);
        return last_epoch;
    }
    PyObject *epoch = PyUnicode_FromStringAndSize((const char *)s, len);
    if (epoch == NULL)
        return NULL;
    Py_XSETREF(last_epoch, epoch);
    Py_INCREF(epoch);
    return epoch;
}

/* marks.mark_parts of a cursor of the shape above (store_len from cursor_shape): the
 * store is `<epoch>.<ms>` when it ends in 1 to 19 digits after a dot with something
 * before it. */
PyObject *
mark_of(const unsigned char *s, Py_ssize_t len, Py_ssize_t store_len)
{
    Py_ssize_t dot = store_len - 1;
    while (dot >= 0 && s[dot] != '.')
        dot--;
    Py_ssize_t ms_len = store_len - dot - 1;
    int split = dot > 0 && ms_len >= 1 && ms_len <= DIGITS_MAX;
    for (Py_ssize_t i = dot + 1; split && i < store_len; i++)
        split = s[i] >= '0' && s[i] <= '9';
    PyObject *mark = PyTuple_New(3);
    if (mark == NULL)
        return NULL;
    PyObject *epoch = epoch_of(s, split ? dot : store_len);
    if (epoch == NULL) {
        Py_DECREF(mark);
        return NULL;
    }
    PyTuple_SET_ITEM(mark, 0, epoch);
    PyObject *ms = PyLong_FromUnsignedLongLong(split ? number(s + dot + 1, ms_len) : 0);
    if (ms == NULL) {
        Py_DECREF(mark);
        return NULL;
    }
    PyTuple_SET_ITEM(mark, 1, ms);
    PyObject *n = PyLong_FromUnsignedLongLong(number(s + store_len + 1, len - store_len - 1));
    if (n == NULL) {
        Py_DECREF(mark);
        return NULL;
    }
    PyTuple_SET_ITEM(mark, 2, n);
    /* a str and two ints: the cyclic GC would untrack it at its first pass; the store
     * keeps one per tracked notification (see receipts_store.c's `untracked`) */
    PyObject_GC_UnTrack(mark);
    return mark;
}

PyObject *
common_mark(PyObject *cursor)
{
    if (!PyUnicode_IS_COMPACT_ASCII(cursor))
        Py_RETURN_NONE;
    const unsigned char *s = PyUnicode_1BYTE_DATA(cursor);
    Py_ssize_t len = PyUnicode_GET_LENGTH(cursor);
    Py_ssize_t store_len = cursor_shape(s, len);
    if (store_len < 0)
        Py_RETURN_NONE;
    return mark_of(s, len, store_len);
}

/* log_mark(cursor): marks.log_mark of a cursor a log printed, for receipts' tracking of
 * each published notification; None when it is not of the common shape (then the Python
 * log_mark reads it). Its epoch is the one object read_ack's marks share while the epoch
 * stays the same, so the store's comparisons meet identical objects. */
PyObject *
log_mark(PyObject *Py_UNUSED(module), PyObject *cursor)
{
    if (!PyUnicode_Check(cursor)) {
        PyErr_SetString(PyExc_TypeError, "log_mark: cursor must be str");
        return NULL;
    }
    return common_mark(cursor);
}

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
