/* gateway._receipts: apply_acks, the memory receipt store's loop applying a batch of acks
 * to users' waiting lists (the twin: gateway/receipts/memory_loops.py's `apply_acks_py`,
 * which says what it does). Anything but what it expects raises (the store's structures
 * broke an invariant), never guesses.
 *
 * What an ack costs here (scripts/profile-receipts, `apply`), and what was cut:
 * - the marks' comparisons: each a tuple comparison through Python's (~300
 *   instructions); a mark is (epoch, ms, n) with the epoch the object every mark of this
 *   process shares (receipts.c), and a waiting Rec holds its numbers (receipts_rec.c), so
 *   `rec_compare` compares two numbers with the ack's, read once;
 * - a list emptied whole stays in `waiting`, empty, for the user's next notification
 *   (dropping it and making a new one on the next track was a dict deletion, a list freed,
 *   a list made and a dict insertion); the store drops the empty ones when it trims its
 *   lists;
 * - a receipt turned delivered with no `undelivered_at` is one object per batch, its
 *   user_id "" (the store fills it in when read out, as with every slot's `_PENDING`): a
 *   tuple made and later freed per delivered user was ~0.3k;
 * - what the histogram observes is the notification's own Tracked (`done`, the store's
 *   `Applied.delivered`), not a (published_at, type) pair made and freed per ack.
 */
#include "receipts.h"

static PyObject *empty_str;

/* The index in the store's lists of the notification a waiting Rec stands for (its seq -
 * base), checked against `size`; -1 with an error. */
static Py_ssize_t
slot_of(PyObject *rec, Py_ssize_t base, Py_ssize_t size)
{
    Py_ssize_t seq = rec_seq(rec);
    if (seq == -1 && PyErr_Occurred())
        return -1;
    Py_ssize_t k = seq - base;
    if (k < 0 || k >= size) {
        PyErr_SetString(PyExc_IndexError, "apply_acks: a waiting seq is not tracked");
        return -1;
    }
    return k;
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
    PyTypeObject *cls = (PyTypeObject *)args[7];
    if (was != Py_None)
        return receipt(cls, user_id, args[8], args[9], was);
    if (*shared == NULL && (*shared = receipt(cls, empty_str, args[8], args[9], Py_None)) == NULL)
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
    PyObject *slots = args[2], *tracked = args[3], *done = args[5];
    PyObject *feed_append = args[6], *delivered = args[8], *now = args[9];
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

/* One ack `(user_id, topics, low, high)`: how many turned delivered, or -1. Its two marks
 * are read once (Bound); each queued Rec is compared with them on its own numbers. */
static Py_ssize_t
apply_one(PyObject *const *args, PyObject *ack, Py_ssize_t base, PyObject **shared)
{
    PyObject *waiting = args[1];
    Py_ssize_t size_of_lists = PyList_GET_SIZE(args[2]);
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
    Bound after, upto;
    bound_of(low, &after);
    bound_of(high, &upto);
    Py_ssize_t size = PyList_GET_SIZE(queue), i = 0, j, taken = -1;
    for (; i < size && i < PyList_GET_SIZE(queue); i++) { /* at or before `low`: pending */
        int before = rec_compare(PyList_GET_ITEM(queue, i), &after, Py_LE);
        if (before < 0)
            goto done;
        if (!before)
            break;
    }
    for (j = i; j < size && j < PyList_GET_SIZE(queue); j++) {
        PyObject *rec = PyList_GET_ITEM(queue, j);
        int beyond = rec_compare(rec, &upto, Py_GT);
        if (beyond < 0)
            goto done;
        if (beyond)
            break;
        Py_ssize_t k = slot_of(rec, base, size_of_lists);
        if (k < 0 || deliver(args, k, user_id, shared) < 0)
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

/* apply_acks(acks, waiting, slots, tracked, base, done, feed_append, user_receipt,
 * delivered, now) -> int */
PyObject *
apply_acks(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 10 || !PyList_CheckExact(args[0]) || !PyDict_CheckExact(args[1]) ||
        !PyList_CheckExact(args[2]) || !PyList_CheckExact(args[3]) ||
        !PyList_CheckExact(args[5]) || !PyType_Check(args[7])) {
        PyErr_SetString(PyExc_TypeError,
                        "apply_acks(acks: list, waiting: dict, slots: list, tracked: list, "
                        "base, done: list, feed_append, user_receipt: type, delivered, now)");
        return NULL;
    }
    PyTypeObject *cls = (PyTypeObject *)args[7];
    if (!PyType_IsSubtype(cls, &PyTuple_Type) || cls->tp_itemsize != sizeof(PyObject *) ||
        cls->tp_basicsize != PyTuple_Type.tp_basicsize) {
        PyErr_SetString(PyExc_TypeError, "apply_acks: user_receipt must be a NamedTuple");
        return NULL;
    }
    if (empty_str == NULL && (empty_str = PyUnicode_FromStringAndSize("", 0)) == NULL)
        return NULL;
    Py_ssize_t base = PyLong_AsSsize_t(args[4]);
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
