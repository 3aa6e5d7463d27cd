/* gateway._receipts: forget_oldest, the memory receipt store's loop forgetting its oldest
 * notifications past its count or age bound (the twin: gateway/receipts/memory_forget.py's
 * `forget_oldest_py`, which says what it does).
 *
 * Every long-running gateway reaches the bound (GATEWAY_RECEIPTS_MAX), and from then on
 * forgets one notification for every one it tracks. In Python that was ~5k instructions
 * per notification forgotten (the target's user_ids through the model's __getattr__ hook,
 * a dict of them, a method call per user; scripts/profile-receipts --max-tracked). Here
 * it works on the store's own lists and dicts, and anything but what it expects raises
 * (the store's structures broke an invariant), never guesses.
 */
#include "receipts.h"

/* Whether `number` (an element of a waiting list) is `seq`: 1, 0 or -1 (error). The int
 * to compare with is made only for an element that is not an exact int. */
static int
is_seq(PyObject *number, Py_ssize_t seq)
{
    if (PyLong_CheckExact(number)) {
        Py_ssize_t value = PyLong_AsSsize_t(number);
        if (!(value == -1 && PyErr_Occurred()))
            return value == seq;
        PyErr_Clear(); /* past a Py_ssize_t: not seq, which is one */
        return 0;
    }
    PyObject *seq_obj = PyLong_FromSsize_t(seq);
    if (seq_obj == NULL)
        return -1;
    int equal = PyObject_RichCompareBool(number, seq_obj, Py_EQ);
    Py_DECREF(seq_obj);
    return equal;
}

/* `seq` no longer waits for `user_id`'s ack; a list left (or found) empty is dropped. The
 * oldest is nearly always at the front: its Rec's seq read there, no int made. */
static int
unwait(PyObject *waiting, PyObject *user_id, Py_ssize_t seq)
{
    PyObject *queue = PyDict_GetItemWithError(waiting, user_id);
    if (queue == NULL)
        return PyErr_Occurred() ? -1 : 0;
    if (!PyList_Check(queue)) {
        PyErr_SetString(PyExc_TypeError, "forget_oldest: a waiting list is not a list");
        return -1;
    }
    Py_INCREF(queue);
    int failed = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(queue); i++) {
        Py_ssize_t its = rec_seq(PyList_GET_ITEM(queue, i));
        int found = its == -1 && PyErr_Occurred() ? -1 : its == seq;
        if (found < 0 || (found && PyList_SetSlice(queue, i, i + 1, NULL) < 0)) {
            failed = 1;
            break;
        }
        if (found)
            break;
    }
    if (!failed && PyList_GET_SIZE(queue) == 0)
        failed = PyDict_DelItem(waiting, user_id) < 0;
    Py_DECREF(queue);
    return failed ? -1 : 0;
}

/* A forgotten broadcast's place in the store's cursor-ordered lists, taken out. */
static int
unlist_broadcast(PyObject *at_list, PyObject *seqs, Py_ssize_t seq)
{
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(seqs); i++) { /* the oldest: nearly always first */
        int found = is_seq(PyList_GET_ITEM(seqs, i), seq);
        if (found < 0)
            return -1;
        if (found) {
            if (i >= PyList_GET_SIZE(at_list)) {
                PyErr_SetString(PyExc_IndexError, "forget_oldest: broadcast lists differ");
                return -1;
            }
            if (PyList_SetSlice(at_list, i, i + 1, NULL) < 0)
                return -1;
            return PyList_SetSlice(seqs, i, i + 1, NULL);
        }
    }
    return 0; /* not listed: nothing to take out */
}

/* Whether item (a Tracked) is within both bounds: 1, 0 or -1 (error). */
static int
kept(PyObject *items, Py_ssize_t gone, PyObject *item, Py_ssize_t max_tracked, PyObject *horizon)
{
    if (PyList_GET_SIZE(items) - gone > max_tracked)
        return 0;
    PyObject *published_at = PyTuple_GET_ITEM(item, 4);
    if (PyFloat_CheckExact(published_at) && PyFloat_CheckExact(horizon))
        return PyFloat_AS_DOUBLE(published_at) >= PyFloat_AS_DOUBLE(horizon);
    return PyObject_RichCompareBool(published_at, horizon, Py_GE);
}

/* Whether `slot` is a one-user receipt in one of the `settled` states (delivered, read):
 * its notification waits in no list, so forgetting it need not look its user up. */
static int
settled_slot(PyObject *slot, PyObject *settled)
{
    if (!PyTuple_Check(slot) || PyTuple_GET_SIZE(slot) < 2)
        return 0; /* several users' dict, a broadcast's counts */
    PyObject *state = PyTuple_GET_ITEM(slot, 1);
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(settled); i++)
        if (PyTuple_GET_ITEM(settled, i) == state)
            return 1;
    return 0;
}

/* One notification (items[gone], seq) forgotten: its id where the store indexed it (seqs
 * before `indexed`, the id not republished since), its users' or broadcast's index
 * entries (none for a one-user notification already acked or read: its target, its
 * user_ids, the user's dict entry and list were each a cache miss by the time it is
 * forgotten, seconds after) and its slots. */
static int
forget_one(PyObject *const *args, PyObject *item, Py_ssize_t gone, Py_ssize_t seq,
           Py_ssize_t indexed)
{
    PyObject *items = args[0], *slots = args[1], *ids = args[2], *waiting = args[3];
    if (seq < indexed) { /* indexed: its entry goes unless the id was republished since */
        PyObject *nid = PyTuple_GET_ITEM(item, 0);
        PyObject *at = PyDict_GetItemWithError(ids, nid);
        if (at == NULL && PyErr_Occurred())
            return -1;
        int same = 0;
        if (at != NULL && PyLong_CheckExact(at)) {
            Py_ssize_t value = PyLong_AsSsize_t(at);
            if (value == -1 && PyErr_Occurred())
                PyErr_Clear(); /* past a Py_ssize_t: not seq */
            else
                same = value == seq;
        }
        if (same && PyDict_DelItem(ids, nid) < 0)
            return -1;
    }
    int failed = 0;
    PyObject *target = PyTuple_GET_ITEM(item, 3);
    if (gone < PyList_GET_SIZE(slots) && settled_slot(PyList_GET_ITEM(slots, gone), args[12]))
        ; /* in no waiting list */
    else if (Py_TYPE(target) == (PyTypeObject *)args[11]) {
        /* a user named twice finds nothing left to do the second time */
        PyObject *user_ids = user_ids_of(target);
        if (user_ids == NULL || !PyTuple_Check(user_ids)) {
            if (user_ids != NULL)
                PyErr_SetString(PyExc_TypeError, "forget_oldest: user_ids is not a tuple");
            failed = 1;
        }
        for (Py_ssize_t u = 0; !failed && u < PyTuple_GET_SIZE(user_ids); u++)
            failed = unwait(waiting, PyTuple_GET_ITEM(user_ids, u), seq) < 0;
        Py_XDECREF(user_ids);
    }
    else
        failed = unlist_broadcast(args[4], args[5], seq) < 0;
    if (failed)
        return -1;
    if (PyList_SetItem(items, gone, Py_NewRef(Py_None)) < 0 ||
        PyList_SetItem(slots, gone, Py_NewRef(Py_None)) < 0)
        return -1;
    return 0;
}

/* forget_oldest(items, slots, ids, waiting, broadcast_at, broadcast_seqs, gone, base,
 * indexed, max_tracked, horizon, users_target, settled) -> gone */
PyObject *
forget_oldest(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 13 || !PyList_CheckExact(args[0]) || !PyList_CheckExact(args[1]) ||
        !PyDict_CheckExact(args[2]) || !PyDict_CheckExact(args[3]) ||
        !PyList_CheckExact(args[4]) || !PyList_CheckExact(args[5]) || !PyType_Check(args[11]) ||
        !PyTuple_CheckExact(args[12])) {
        PyErr_SetString(PyExc_TypeError,
                        "forget_oldest(items: list, slots: list, ids: dict, waiting: dict, "
                        "broadcast_at: list, broadcast_seqs: list, gone, base, indexed, "
                        "max_tracked, horizon, users_target: type, settled: tuple)");
        return NULL;
    }
    Py_ssize_t gone = PyLong_AsSsize_t(args[6]);
    if (gone == -1 && PyErr_Occurred())
        return NULL;
    Py_ssize_t base = PyLong_AsSsize_t(args[7]);
    if (base == -1 && PyErr_Occurred())
        return NULL;
    Py_ssize_t indexed = PyLong_AsSsize_t(args[8]);
    if (indexed == -1 && PyErr_Occurred())
        return NULL;
    Py_ssize_t max_tracked = PyLong_AsSsize_t(args[9]);
    if (max_tracked == -1 && PyErr_Occurred())
        return NULL;
    PyObject *items = args[0], *horizon = args[10];
    if (gone < 0)
        gone = 0;
    while (gone < PyList_GET_SIZE(items)) {
        PyObject *item = PyList_GET_ITEM(items, gone);
        if (item == Py_None) {
            gone++;
            continue;
        }
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) < 5) {
            PyErr_SetString(PyExc_TypeError, "forget_oldest: a tracked item is not a Tracked");
            return NULL;
        }
        Py_INCREF(item);
        int keep = kept(items, gone, item, max_tracked, horizon);
        int failed = keep < 0 || (!keep && forget_one(args, item, gone, base + gone, indexed) < 0);
        Py_DECREF(item);
        if (failed)
            return NULL;
        if (keep)
            break;
        gone++;
    }
    return PyLong_FromSsize_t(gone);
}
