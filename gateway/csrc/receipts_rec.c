/* gateway._receipts.Rec: one entry of a user's waiting list in the memory receipt store,
 * a notification's seq and mark (its twin: gateway/receipts/rec.py's `RecPy`).
 *
 * Why a C object: the lists held a seq (an int object) and the store a mark per seq (a
 * tuple and its n, another int object) in a list beside them, three objects made per
 * tracked notification and freed when it was forgotten, and an ack read all three, each
 * cold by then (perf on the `receipts` bench: mark_compare, PyLong_AsSsize_t and is_seq
 * were the store's largest costs after its dict lookups). A Rec holds the numbers in
 * itself: one object, one cache line, read once. A mark whose numbers do not fit a long
 * long, or of another shape, is kept as the tuple it is and compared as Python does.
 *
 * Immutable, holding only a str or a mark tuple of strs and ints: it can be part of no
 * reference cycle, so it is not tracked by the cyclic GC.
 */
#include "receipts.h"

#include <structmember.h>

typedef struct {
    PyObject_HEAD
    Py_ssize_t seq;
    /* the mark as (epoch, ms, n) when `mark` is NULL; else the mark as given */
    PyObject *epoch;
    long long ms;
    long long n;
    PyObject *mark;
} RecObject;

/* (ms, n) of an exact (str, int, int) tuple whose ints fit a long long: 1, else 0. */
int
mark_numbers_of(PyObject *mark, long long *ms, long long *n)
{
    if (!PyTuple_CheckExact(mark) || PyTuple_GET_SIZE(mark) != 3 ||
        !PyUnicode_CheckExact(PyTuple_GET_ITEM(mark, 0)))
        return 0;
    PyObject *a = PyTuple_GET_ITEM(mark, 1), *b = PyTuple_GET_ITEM(mark, 2);
    if (!PyLong_CheckExact(a) || !PyLong_CheckExact(b))
        return 0;
    int over_a, over_b;
    *ms = PyLong_AsLongLongAndOverflow(a, &over_a);
    *n = PyLong_AsLongLongAndOverflow(b, &over_b);
    return !over_a && !over_b;
}

PyObject *
rec_new(Py_ssize_t seq, PyObject *epoch, long long ms, long long n)
{
    RecObject *rec = PyObject_New(RecObject, &RecType);
    if (rec == NULL)
        return NULL;
    rec->seq = seq;
    rec->epoch = Py_NewRef(epoch);
    rec->ms = ms;
    rec->n = n;
    rec->mark = NULL;
    return (PyObject *)rec;
}

PyObject *
rec_of_mark(Py_ssize_t seq, PyObject *mark)
{
    long long ms, n;
    if (mark_numbers_of(mark, &ms, &n))
        return rec_new(seq, PyTuple_GET_ITEM(mark, 0), ms, n);
    RecObject *rec = PyObject_New(RecObject, &RecType);
    if (rec == NULL)
        return NULL;
    rec->seq = seq;
    rec->epoch = NULL;
    rec->ms = rec->n = 0;
    rec->mark = Py_NewRef(mark);
    return (PyObject *)rec;
}

Py_ssize_t
rec_seq(PyObject *rec)
{
    if (Py_TYPE(rec) != &RecType) {
        PyErr_SetString(PyExc_TypeError, "a waiting list holds something not a Rec");
        return -1;
    }
    return ((RecObject *)rec)->seq;
}

/* The mark as a tuple (a new reference). */
static PyObject *
rec_mark(RecObject *rec)
{
    if (rec->mark != NULL)
        return Py_NewRef(rec->mark);
    return Py_BuildValue("(OLL)", rec->epoch, rec->ms, rec->n);
}

void
bound_of(PyObject *mark, Bound *bound)
{
    bound->mark = mark;
    bound->fast = mark_numbers_of(mark, &bound->ms, &bound->n);
    bound->epoch = bound->fast ? PyTuple_GET_ITEM(mark, 0) : NULL;
}

int
rec_compare(PyObject *obj, const Bound *bound, int op)
{
    if (Py_TYPE(obj) != &RecType) {
        PyErr_SetString(PyExc_TypeError, "a waiting list holds something not a Rec");
        return -1;
    }
    RecObject *rec = (RecObject *)obj;
    if (rec->mark == NULL && bound->fast && rec->epoch == bound->epoch) {
        int le = rec->ms < bound->ms || (rec->ms == bound->ms && rec->n <= bound->n);
        return op == Py_LE ? le : !le;
    }
    PyObject *mark = rec_mark(rec);
    if (mark == NULL)
        return -1;
    int answer = marks_compare(mark, bound->mark, op);
    Py_DECREF(mark);
    return answer;
}

static PyObject *
rec_py_new(PyTypeObject *Py_UNUSED(type), PyObject *args, PyObject *kwds)
{
    static char *names[] = {"seq", "mark", NULL};
    Py_ssize_t seq;
    PyObject *mark;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "nO:Rec", names, &seq, &mark))
        return NULL;
    return rec_of_mark(seq, mark);
}

static void
rec_dealloc(RecObject *rec)
{
    Py_XDECREF(rec->epoch);
    Py_XDECREF(rec->mark);
    PyObject_Free(rec);
}

static PyObject *
rec_get_mark(RecObject *rec, void *Py_UNUSED(closure))
{
    return rec_mark(rec);
}

static PyObject *
rec_repr(RecObject *rec)
{
    PyObject *mark = rec_mark(rec);
    if (mark == NULL)
        return NULL;
    PyObject *text = PyUnicode_FromFormat("Rec(seq=%zd, mark=%R)", rec->seq, mark);
    Py_DECREF(mark);
    return text;
}

/* == and != with another Rec (the same seq and mark): the tests compare stores. */
static PyObject *
rec_richcompare(PyObject *a, PyObject *b, int op)
{
    if ((op != Py_EQ && op != Py_NE) || Py_TYPE(b) != &RecType)
        Py_RETURN_NOTIMPLEMENTED;
    RecObject *x = (RecObject *)a, *y = (RecObject *)b;
    int equal = x->seq == y->seq;
    if (equal) {
        PyObject *u = rec_mark(x), *v = u == NULL ? NULL : rec_mark(y);
        equal = v == NULL ? -1 : PyObject_RichCompareBool(u, v, Py_EQ);
        Py_XDECREF(u);
        Py_XDECREF(v);
        if (equal < 0)
            return NULL;
    }
    return PyBool_FromLong(op == Py_EQ ? equal : !equal);
}

/* copy.copy and copy.deepcopy: itself (immutable). */
static PyObject *
rec_copy(PyObject *self, PyObject *Py_UNUSED(memo))
{
    return Py_NewRef(self);
}

static PyObject *
rec_reduce(RecObject *rec, PyObject *Py_UNUSED(ignored))
{
    PyObject *mark = rec_mark(rec);
    if (mark == NULL)
        return NULL;
    return Py_BuildValue("(O(nN))", (PyObject *)&RecType, rec->seq, mark);
}

static PyMemberDef rec_members[] = {
    {"seq", T_PYSSIZET, offsetof(RecObject, seq), READONLY, "the notification's seq"},
    {NULL, 0, 0, 0, NULL},
};

static PyGetSetDef rec_getset[] = {
    {"mark", (getter)rec_get_mark, NULL, "its position (epoch, ms, n)", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef rec_methods[] = {
    {"__copy__", (PyCFunction)rec_copy, METH_NOARGS, NULL},
    {"__deepcopy__", (PyCFunction)rec_copy, METH_O, NULL},
    {"__reduce__", (PyCFunction)rec_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

PyTypeObject RecType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "gateway._receipts.Rec",
    .tp_basicsize = sizeof(RecObject),
    .tp_dealloc = (destructor)rec_dealloc,
    .tp_repr = (reprfunc)rec_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Rec(seq, mark): a notification waiting for its user's ack",
    .tp_richcompare = rec_richcompare,
    .tp_methods = rec_methods,
    .tp_members = rec_members,
    .tp_getset = rec_getset,
    .tp_new = rec_py_new,
};
