/* gateway._receipts: what its C files share. */
#ifndef GATEWAY_RECEIPTS_H
#define GATEWAY_RECEIPTS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* `<store>-<n>` at s[0:len] as Cursor.parse's shape: the store's length, or -1. */
Py_ssize_t cursor_shape(const unsigned char *s, Py_ssize_t len);
/* The mark (epoch, ms, n) of a cursor of that shape (a new reference, NULL on error). */
PyObject *mark_of(const unsigned char *s, Py_ssize_t len, Py_ssize_t store_len);
/* log_mark of a str cursor: its mark, or None when not of the common shape (new refs). */
PyObject *common_mark(PyObject *cursor);
/* log_mark(cursor), the module's function (receipts_marks.c, as the three above). */
PyObject *log_mark(PyObject *module, PyObject *cursor);
/* target.user_ids (a new reference), read as a pydantic model keeps it (receipts_store.c). */
PyObject *user_ids_of(PyObject *target);

/* The ack frame `text` read against a connection's `after` and `sent` (read_ack's rules):
 * 1 with *at and *last (new references) and *covered; 0: not the common form; -1: error. */
int read_parts(PyObject *text, PyObject *after, PyObject *sent, PyObject **at_out,
               PyObject **last_out, int *covered);

/* receipts_marks.c: two marks' order as Python's tuple comparison gives it (-1, 0, 1) when
 * both are (str, int, int) with ints within a long long, else 2; marks_compare(a, b, op) is
 * PyObject_RichCompareBool's answer (Python's own for any other shape); epoch_differs(a,
 * b) is `a != b` for two epochs. */
int mark_order(PyObject *a, PyObject *b);
int marks_compare(PyObject *a, PyObject *b, int op);
int epoch_differs(PyObject *a, PyObject *b);

/* A tuple kept out of the cyclic GC's sight: see receipts_store.c. */
static inline PyObject *
untracked(PyObject *tuple)
{
    if (tuple != NULL && PyObject_GC_IsTracked(tuple))
        PyObject_GC_UnTrack(tuple);
    return tuple;
}

/* An instance of the NamedTuple `cls` holding `items[0:n]` (new references taken), kept
 * out of the GC's sight as `untracked` says; NULL on error. One allocator for the store's
 * Tracked and UserReceipt and the taker's Ack. */
static inline PyObject *
record(PyTypeObject *cls, Py_ssize_t n, PyObject *const *items)
{
    PyObject *made = cls->tp_alloc(cls, n);
    if (made == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++)
        PyTuple_SET_ITEM(made, i, Py_NewRef(items[i]));
    return untracked(made);
}

/* receipts_rec.c: the Rec type (a user's waiting-list entry: seq and mark), made from its
 * numbers (the epoch a new reference taken) or from a mark of any shape; its seq (-1 with
 * TypeError for anything not a Rec); a mark's numbers when it is (str, int, int) within a
 * long long. A Bound is an ack's mark read once, for rec_compare (`rec op bound`, op
 * Py_LE or Py_GT: 1, 0 or -1). */
extern PyTypeObject RecType;
typedef struct {
    PyObject *mark; /* borrowed */
    PyObject *epoch;
    long long ms, n;
    int fast;
} Bound;
PyObject *rec_new(Py_ssize_t seq, PyObject *epoch, long long ms, long long n);
PyObject *rec_of_mark(Py_ssize_t seq, PyObject *mark);
Py_ssize_t rec_seq(PyObject *rec);
int mark_numbers_of(PyObject *mark, long long *ms, long long *n);
void bound_of(PyObject *mark, Bound *bound);
int rec_compare(PyObject *rec, const Bound *bound, int op);

PyObject *track_users(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
PyObject *apply_acks(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
PyObject *observe_delivery(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
PyObject *ack_taker(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
/* receipts_take.c too: the taker's reading of an ack, without the queueing */
PyObject *ack_range(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
PyObject *tracked_items(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
PyObject *forget_oldest(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

#endif
