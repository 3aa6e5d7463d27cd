/* gateway._receipts: apply_acks, the memory receipt store's loop applying a batch of acks
 * to users' waiting lists (the twin: gateway/receipts/memory_loops.py's `apply_acks_py`,
 * which says what it does). Anything but what it expects raises (the store's structures
 * broke an invariant), never guesses.
 *
 * What an ack costs here (scripts/profile-receipts, `apply`), and what was cut:
 * - the marks' comparisons: two per ack, each a tuple comparison through Python's
 *   (~300 instructions); a mark is (epoch, ms, n) with the epoch the object every mark
 *   of this process shares (receipts.c), so `mark_compare` compares the two numbers;
 * - a list emptied whole stays in `waiting`, empty, for the user's next notification
 *   (dropping it and making a new one on the next track was a dict deletion, a list freed,
 *   a list made and a dict insertion); the store's `_forget` drops it with the user's
 *   notifications;
 * - a receipt turned delivered with no `undelivered_at` is one object per batch, its
 *   user_id "" (the store fills it in when read out, as with every slot's `_PENDING`): a
 *   tuple made and later freed per delivered user was ~0.3k;
 * - what the histogram observes is the notification's own Tracked (`done`, the store's
 *   `Applied.delivered`), not a (published_at, type) pair made and freed per ack.
 */
#include "receipts.h"

static PyObject *empty_str;

/* `a op b` for two marks, op Py_LE or Py_GT: exact 3-tuples of one epoch object and ints
 * within a long long are compared here, as Python's tuple comparison would; anything else
 * by that comparison. 1, 0 or -1 (error). */
static int
mark_compare(PyObject *a, PyObject *b, int op)
{
    if (PyTuple_CheckExact(a) && PyTuple_CheckExact(b) && PyTuple_GET_SIZE(a) == 3 &&
        PyTuple_GET_SIZE(b) == 3 && PyTuple_GET_ITEM(a, 0) == PyTuple_GET_ITEM(b, 0)) {
        PyObject *a1 = PyTuple_GET_ITEM(a, 1), *a2 = PyTuple_GET_ITEM(a, 2);
        PyObject *b1 = PyTuple_GET_ITEM(b, 1), *b2 = PyTuple_GET_ITEM(b, 2);
        if (PyLong_CheckExact(a1) && PyLong_CheckExact(a2) && PyLong_CheckExact(b1) &&
            PyLong_CheckExact(b2)) {
            int o1, o2, o3, o4;
            long long x1 = PyLong_AsLongLongAndOverflow(a1, &o1);
            long long x2 = PyLong_AsLongLongAndOverflow(a2, &o2);
            long long y1 = PyLong_AsLongLongAndOverflow(b1, &o3);
            long long y2 = PyLong_AsLongLongAndOverflow(b2, &o4);
            if (!(o1 | o2 | o3 | o4)) {
                int le = x1 < y1 || (x1 == y1 && x2 <= y2);
                return op == Py_LE ? le : !le;
            }
        }
    }
    return PyObject_RichCompareBool(a, b, op);
}

/* The store's index of `seq` in its lists (seq - base), checked against `size`. */
static Py_ssize_t
slot_of(PyObject *queue, Py_ssize_t at, Py_ssize_t base, Py_ssize_t size)
{
    Py_ssize_t seq = PyLong_AsSsize_t(PyList_GET_ITEM(queue, at));
    if (seq == -1 && PyErr_Occurred())
        return -1;
    Py_ssize_t k = seq - base;
    if (k < 0 || k >= size) {
        PyErr_SetString(PyExc_IndexError, "apply_acks: a waiting seq is not tracked");
        return -1;
    }
    return k;
}

/* Whether the mark of the notification queued at `queue[at]` is `op` `bound` (mark_compare:
 * 1, 0, or -1 on error), its index in the store's lists in *k. Both of apply_one's scans
 * (what stays pending, what the ack covers) step through the queue this way. */
static int
queued_mark(PyObject *ats, PyObject *queue, Py_ssize_t at, Py_ssize_t base, PyObject *bound,
            int op, Py_ssize_t *k)
{
    *k = slot_of(queue, at, base, PyList_GET_SIZE(ats));
    if (*k < 0)
        return -1;
    return mark_compare(PyList_GET_ITEM(ats, *k), bound, op);
}

static PyObject *
receipt(PyTypeObject *cls, PyObject *user_id, PyObject *delivered, PyObject *now, PyObject *was)
{
    PyObject *items[5] = {user_id, delivered, now, Py_None, was};
    return record(cls, 5, items);
}

/* The receipt a user's slot gets (a new reference): the batch's shared one when `was`
 * (undelivered_at) is None, made on first use into *shared; else one of its own. */
static PyObject *
delivered_receipt(PyObject *const *args, PyObject *user_id, PyObject *was, PyObject **shared)
{
    PyTypeObject *cls = (PyTypeObject *)args[8];
    if (was != Py_None)
        return receipt(cls, user_id, args[9], args[10], was);
    if (*shared == NULL && (*shared = receipt(cls, empty_str, args[9], args[10], Py_None)) == NULL)
        return NULL;
    return Py_NewRef(*shared);
}

/* `slot[4]`: a receipt's undelivered_at (borrowed), or NULL with TypeError. */
static PyObject *
undelivered_at(PyObject *slot)
{
    if (!PyTuple_Check(slot) || PyTuple_GET_SIZE(slot) < 5) {
        PyErr_SetString(PyExc_TypeError, "apply_acks: a receipt is not a UserReceipt");
        return NULL;
    }
    return PyTuple_GET_ITEM(slot, 4);
}

/* One notification (index k) turned delivered for user_id: its receipt, done, feed. */
static int
deliver(PyObject *const *args, Py_ssize_t k, PyObject *user_id, PyObject **shared)
{
    PyObject *slots = args[3], *tracked = args[4], *done = args[6];
    PyObject *feed_append = args[7], *delivered = args[9], *now = args[10];
    if (k >= PyList_GET_SIZE(slots) || k >= PyList_GET_SIZE(tracked)) {
        PyErr_SetString(PyExc_IndexError, "apply_acks: a waiting seq is not tracked");
        return -1;
    }
    PyObject *slot = Py_NewRef(PyList_GET_ITEM(slots, k));
    int failed;
    if (PyDict_CheckExact(slot)) {
        PyObject *user = PyDict_GetItemWithError(slot, user_id);
        if (user == NULL) {
            if (!PyErr_Occurred())
                PyErr_SetObject(PyExc_KeyError, user_id);
            Py_DECREF(slot);
            return -1;
        }
        PyObject *was = undelivered_at(user);
        PyObject *made = was == NULL ? NULL : delivered_receipt(args, user_id, was, shared);
        failed = made == NULL || PyDict_SetItem(slot, user_id, made) < 0;
        Py_XDECREF(made);
    }
    else {
        PyObject *was = undelivered_at(slot);
        PyObject *made = was == NULL ? NULL : delivered_receipt(args, user_id, was, shared);
        failed = made == NULL || PyList_SetItem(slots, k, made) < 0; /* steals made */
    }
    Py_DECREF(slot);
    if (failed)
        return -1;
    PyObject *item = PyList_GET_ITEM(tracked, k);
    if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) < 5) {
        PyErr_SetString(PyExc_TypeError, "apply_acks: a tracked item is not a Tracked");
        return -1;
    }
    Py_INCREF(item);
    failed = PyList_Append(done, item) < 0; /* Applied.delivered: no pair made */
    if (!failed) {
        PyObject *entry = untracked(PyTuple_Pack(4, item, user_id, delivered, now));
        PyObject *done = entry == NULL ? NULL : PyObject_CallOneArg(feed_append, entry);
        failed = done == NULL;
        Py_XDECREF(done);
        Py_XDECREF(entry);
    }
    Py_DECREF(item);
    return failed ? -1 : 0;
}

/* One ack `(user_id, topics, low, high)`: how many turned delivered, or -1. */
static Py_ssize_t
apply_one(PyObject *const *args, PyObject *ack, Py_ssize_t base, PyObject **shared)
{
    PyObject *waiting = args[1], *ats = args[2];
    if (!PyTuple_Check(ack) || PyTuple_GET_SIZE(ack) < 4) {
        PyErr_SetString(PyExc_TypeError, "apply_acks: an ack is not an Ack");
        return -1;
    }
    PyObject *user_id = PyTuple_GET_ITEM(ack, 0);
    PyObject *low = PyTuple_GET_ITEM(ack, 2), *high = PyTuple_GET_ITEM(ack, 3);
    PyObject *queue = PyDict_GetItemWithError(waiting, user_id);
    if (queue == NULL)
        return PyErr_Occurred() ? -1 : 0;
    if (!PyList_Check(queue)) {
        PyErr_SetString(PyExc_TypeError, "apply_acks: a waiting list is not a list");
        return -1;
    }
    if (PyList_GET_SIZE(queue) == 0)
        return 0;
    Py_INCREF(queue);
    Py_INCREF(user_id);
    Py_INCREF(low);
    Py_INCREF(high);
    Py_ssize_t size = PyList_GET_SIZE(queue), i = 0, j, k, taken = -1;
    for (; i < size && i < PyList_GET_SIZE(queue); i++) { /* at or before `low`: pending */
        int before = queued_mark(ats, queue, i, base, low, Py_LE, &k);
        if (before < 0)
            goto done;
        if (!before)
            break;
    }
    for (j = i; j < size && j < PyList_GET_SIZE(queue); j++) {
        int beyond = queued_mark(ats, queue, j, base, high, Py_GT, &k);
        if (beyond < 0)
            goto done;
        if (beyond)
            break;
        if (deliver(args, k, user_id, shared) < 0)
            goto done;
    }
    /* taken from the list, which stays (empty when all of it went: see the top) */
    if (j > i && PyList_SetSlice(queue, i, j, NULL) < 0)
        goto done;
    taken = j - i;
done:
    Py_DECREF(high);
    Py_DECREF(low);
    Py_DECREF(user_id);
    Py_DECREF(queue);
    return taken;
}

/* apply_acks(acks, waiting, ats, slots, tracked, base, done, feed_append,
 * user_receipt, delivered, now) -> int */
PyObject *
apply_acks(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 11 || !PyList_CheckExact(args[0]) || !PyDict_CheckExact(args[1]) ||
        !PyList_CheckExact(args[2]) || !PyList_CheckExact(args[3]) ||
        !PyList_CheckExact(args[4]) || !PyList_CheckExact(args[6]) || !PyType_Check(args[8])) {
        PyErr_SetString(PyExc_TypeError,
                        "apply_acks(acks: list, waiting: dict, ats: list, slots: list, "
                        "tracked: list, base, done: list, feed_append, user_receipt: "
                        "type, delivered, now)");
        return NULL;
    }
    PyTypeObject *cls = (PyTypeObject *)args[8];
    if (!PyType_IsSubtype(cls, &PyTuple_Type) || cls->tp_itemsize != sizeof(PyObject *) ||
        cls->tp_basicsize != PyTuple_Type.tp_basicsize) {
        PyErr_SetString(PyExc_TypeError, "apply_acks: user_receipt must be a NamedTuple");
        return NULL;
    }
    if (empty_str == NULL && (empty_str = PyUnicode_FromStringAndSize("", 0)) == NULL)
        return NULL;
    Py_ssize_t base = PyLong_AsSsize_t(args[5]);
    if (base == -1 && PyErr_Occurred())
        return NULL;
    PyObject *acks = args[0], *shared = NULL;
    Py_ssize_t count = 0;
    for (Py_ssize_t a = 0; a < PyList_GET_SIZE(acks); a++) {
        PyObject *ack = Py_NewRef(PyList_GET_ITEM(acks, a));
        Py_ssize_t taken = apply_one(args, ack, base, &shared);
        Py_DECREF(ack);
        if (taken < 0) {
            Py_XDECREF(shared);
            return NULL;
        }
        count += taken;
    }
    Py_XDECREF(shared);
    return PyLong_FromSsize_t(count);
}
