/* gateway._receipts: ack_taker, the SDKs' ack frame taken whole in one C call: read
 * against its connection (read_ack's rules, the connection's ack state updated, as
 * ack_range does) and queued with the receipts (Receipts.ack's two common cases: the
 * user has no ack queued and there is room, or the queued one's range meets this one's).
 *
 * Its twin is the Python handler it stands in for, receipts/handlers.py's
 * `_Handlers.ack_text` (ack_range, then Receipts.ack), and it hands everything else to
 * Python: a connection with replay holes to that handler, a full queue or a range apart
 * from the queued one to Receipts.ack itself, so every rule stays the Python code's. Per
 * ack it spares two Python calls (the handler's and Receipts.ack's) and their tuples; the
 * connection's slots are read at their offsets (`layout_of`) and marks compared in C
 * (receipts_marks.c): ~5.0k instructions an ack before those two, ~3.2k after.
 *
 * ack_range, the same reading of an ack without the queueing (acks.py's ack_range_py, the
 * Python handler's first step), is here too: both take it from window_ack.
 */
#include "receipts.h"
#include "slots.h"

static PyObject *n_max_queued, *n_woken, *n_wake, *n_ack, *n_stats, *n_ignored, *n_acks,
    *n_reads;

/* What the taker reads and writes of a connection: AckWindow's slots, its user, its topics. */
enum { UNSENT, ACKED, SENT, USER_ID, TOPICS, KEY, NCONN };
static const char *const conn_names[NCONN] = {"_unsent", "_acked", "_sent",
                                              "user_id", "topics", "_ack_key"};
static PyObject *conn_name[NCONN];

static int
names(void)
{
    if (n_reads != NULL)
        return 0;
    for (int i = 0; i < NCONN; i++)
        if ((conn_name[i] = PyUnicode_InternFromString(conn_names[i])) == NULL)
            return -1;
    struct {
        PyObject **slot;
        const char *text;
    } all[] = {
        {&n_max_queued, "_max_queued"}, {&n_woken, "_woken"}, {&n_wake, "wake"},
        {&n_ack, "ack"},                {&n_stats, "stats"},  {&n_ignored, "acks_ignored"},
        {&n_acks, "_acks"},             {&n_reads, "_reads"},
    };
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (*all[i].slot == NULL && (*all[i].slot = PyUnicode_InternFromString(all[i].text)) == NULL)
            return -1;
    return 0;
}

/* Each connection type's offsets of those names (slots.h), the last few types' kept. */
#define LAYOUTS 4
static SlotLayout layouts[LAYOUTS];
static int next_layout;
static SlotLayout generic = {NULL, 0, {-1, -1, -1, -1, -1, -1, -1, -1}};

static const SlotLayout *
layout_of(PyTypeObject *tp)
{
    for (int i = 0; i < LAYOUTS; i++)
        if (layout_holds(&layouts[i], tp))
            return &layouts[i];
    if (!layout_fill(&layouts[next_layout], tp, conn_name, NCONN))
        return &generic;
    const SlotLayout *layout = &layouts[next_layout];
    next_layout = (next_layout + 1) % LAYOUTS;
    return layout;
}

/* conn.<name i>: a new reference, or NULL with getattr's error (an unset slot too). */
static inline PyObject *
get(PyObject *conn, const SlotLayout *layout, int i)
{
    return slot_get(conn, layout->offset[i], conn_name, i);
}

/* The connection's key in the receipts' queue, `(user_id, topics)` (a new reference):
 * the one kept in its `_ack_key` slot while both are still the connection's (the hub
 * replaces `topics` when it follows another topic), else made and kept there. A class
 * without that slot gets one made per ack. */
static PyObject *
key_of(PyObject *conn, const SlotLayout *layout, PyObject *user_id, PyObject *topics)
{
    Py_ssize_t at = layout->offset[KEY];
    PyObject *kept = at < 0 ? NULL : *(PyObject **)((char *)conn + at);
    if (kept != NULL && PyTuple_CheckExact(kept) && PyTuple_GET_SIZE(kept) == 2 &&
        PyTuple_GET_ITEM(kept, 0) == user_id && PyTuple_GET_ITEM(kept, 1) == topics)
        return Py_NewRef(kept);
    PyObject *key = PyTuple_Pack(2, user_id, topics);
    if (key != NULL && at >= 0)
        Py_XSETREF(*(PyObject **)((char *)conn + at), Py_NewRef(key));
    return key;
}

/* conn.<name i> = value: 0, or -1 with setattr's error. */
static inline int
set(PyObject *conn, const SlotLayout *layout, int i, PyObject *value)
{
    return slot_set(conn, layout->offset[i], conn_name, i, value);
}

/* receipts.stats.acks_ignored += 1 */
static int
count_ignored(PyObject *receipts)
{
    PyObject *stats = PyObject_GetAttr(receipts, n_stats);
    if (stats == NULL)
        return -1;
    PyObject *count = PyObject_GetAttr(stats, n_ignored);
    PyObject *one = count == NULL ? NULL : PyLong_FromLong(1);
    PyObject *more = one == NULL ? NULL : PyNumber_Add(count, one);
    int failed = more == NULL || PyObject_SetAttr(stats, n_ignored, more) < 0;
    Py_XDECREF(more);
    Py_XDECREF(one);
    Py_XDECREF(count);
    Py_DECREF(stats);
    return failed ? -1 : 0;
}

static PyObject *
new_ack(PyTypeObject *cls, PyObject *user_id, PyObject *topics, PyObject *floor, PyObject *upto)
{
    PyObject *items[4] = {user_id, topics, floor, upto};
    return record(cls, 4, items);
}

/* Receipts.ack(user_id, topics, floor, upto) for its two common cases: 1 done, 0 not one
 * of them (Python then), -1 error. */
static int
queue(PyObject *receipts, Py_ssize_t limit, PyTypeObject *cls, PyObject *key,
      PyObject *user_id, PyObject *topics, PyObject *floor, PyObject *upto)
{
    int done = -1;
    PyObject *acks = PyObject_GetAttr(receipts, n_acks);
    if (acks == NULL)
        return -1;
    if (!PyDict_CheckExact(acks)) {
        done = 0;
        goto out;
    }
    /* the key's hash once for the look-up and the store (a tuple's is not cached) */
    Py_hash_t hash = PyObject_Hash(key);
    if (hash == -1)
        goto out;
    PyObject *queued = _PyDict_GetItem_KnownHash(acks, key, hash);
    if (queued == NULL) {
        if (PyErr_Occurred())
            goto out;
        PyObject *reads = PyObject_GetAttr(receipts, n_reads);
        Py_ssize_t size = reads == NULL ? -1 : PyObject_Size(reads);
        Py_XDECREF(reads);
        if (size < 0)
            goto out;
        if (PyDict_GET_SIZE(acks) + size >= limit) {
            done = 0; /* full: Receipts.ack drops and counts it */
            goto out;
        }
        PyObject *ack = new_ack(cls, user_id, topics, floor, upto);
        done = ack == NULL || _PyDict_SetItem_KnownHash(acks, key, ack, hash) < 0 ? -1 : 1;
        Py_XDECREF(ack);
        goto out;
    }
    if (!PyTuple_Check(queued) || PyTuple_GET_SIZE(queued) != 4 || !PyTuple_Check(floor) ||
        PyTuple_GET_SIZE(floor) < 1) {
        done = 0;
        goto out;
    }
    Py_INCREF(queued);
    PyObject *low = PyTuple_GET_ITEM(queued, 2), *high = PyTuple_GET_ITEM(queued, 3);
    /* apart (`floor[0] != low[0] or floor > high or upto < low`): Receipts.ack's */
    int apart = !PyTuple_Check(low) || PyTuple_GET_SIZE(low) < 1;
    if (!apart)
        apart = epoch_differs(PyTuple_GET_ITEM(floor, 0), PyTuple_GET_ITEM(low, 0));
    if (apart == 0)
        apart = marks_compare(floor, high, Py_GT);
    if (apart == 0)
        apart = marks_compare(upto, low, Py_LT);
    if (apart != 0) {
        done = apart < 0 ? -1 : 0;
        Py_DECREF(queued);
        goto out;
    }
    int lower = marks_compare(floor, low, Py_LT);
    int higher = lower < 0 ? -1 : marks_compare(upto, high, Py_GT);
    if (lower < 0 || higher < 0) {
        Py_DECREF(queued);
        goto out;
    }
    done = 1;
    if (lower || higher) { /* min(floor, low), max(upto, high), as Receipts.ack */
        PyObject *ack = new_ack(cls, user_id, topics, lower ? floor : low, higher ? upto : high);
        done = ack == NULL || _PyDict_SetItem_KnownHash(acks, key, ack, hash) < 0 ? -1 : 1;
        Py_XDECREF(ack);
    }
    Py_DECREF(queued);
out:
    Py_DECREF(acks);
    return done;
}

/* if not receipts._woken: receipts.wake() */
static int
wake(PyObject *receipts)
{
    PyObject *woken = PyObject_GetAttr(receipts, n_woken);
    if (woken == NULL)
        return -1;
    int already = PyObject_IsTrue(woken);
    Py_DECREF(woken);
    if (already != 0)
        return already < 0 ? -1 : 0;
    PyObject *done = PyObject_CallMethodNoArgs(receipts, n_wake);
    Py_XDECREF(done);
    return done == NULL ? -1 : 0;
}

/* What an ack frame does to its connection's AckWindow slots: ack_range_py's steps, the
 * one reading of an ack both ack_range and the taker make. ACK_HOLES: a replay left holes
 * (untouched: AckWindow.ack_text's); ACK_OTHER: not the SDKs' ack frame (untouched);
 * ACK_IGNORED: `_sent` noted, the ack covers nothing; ACK_COVERED: `_sent` and `_acked`
 * moved, *after and *at set (new references); -1 with an error. */
enum { ACK_HOLES, ACK_OTHER, ACK_IGNORED, ACK_COVERED };

/* inlined into both callers: the taker makes it once an ack */
Py_ALWAYS_INLINE static inline int
window_ack(PyObject *conn, const SlotLayout *layout, PyObject *text, PyObject **after_out,
           PyObject **at_out)
{
    PyObject *unsent = get(conn, layout, UNSENT);
    if (unsent == NULL)
        return -1;
    int holes = unsent == Py_None ? 0 : PyTuple_CheckExact(unsent) ? PyTuple_GET_SIZE(unsent) != 0
                                                                    : PyObject_IsTrue(unsent);
    Py_DECREF(unsent);
    if (holes != 0)
        return holes < 0 ? -1 : ACK_HOLES;
    PyObject *after = get(conn, layout, ACKED);
    PyObject *sent = after == NULL ? NULL : get(conn, layout, SENT);
    if (sent == NULL) {
        Py_XDECREF(after);
        return -1;
    }
    PyObject *at = NULL, *last = NULL;
    int covered = 0;
    int read = read_parts(text, after, sent, &at, &last, &covered);
    Py_DECREF(sent);
    if (read <= 0) {
        Py_DECREF(after);
        return read < 0 ? -1 : ACK_OTHER;
    }
    int failed = set(conn, layout, SENT, last) < 0 ||
                 (covered && set(conn, layout, ACKED, at) < 0);
    Py_DECREF(last);
    if (failed || !covered) {
        Py_DECREF(after);
        Py_DECREF(at);
        return failed ? -1 : ACK_IGNORED;
    }
    *after_out = after;
    *at_out = at;
    return ACK_COVERED;
}

/* ack_range(window, text): see gateway/connection/acks.py's `ack_range_py`. */
PyObject *
ack_range(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "ack_range(window, text) takes 2 arguments");
        return NULL;
    }
    if (names() < 0)
        return NULL;
    PyObject *window = args[0], *after, *at;
    switch (window_ack(window, layout_of(Py_TYPE(window)), args[1], &after, &at)) {
    case ACK_HOLES: /* AckWindow.ack_text's */
    case ACK_OTHER:
        Py_RETURN_NONE;
    case ACK_IGNORED:
        return PyTuple_New(0);
    case ACK_COVERED: {
        PyObject *span = untracked(PyTuple_Pack(2, after, at));
        Py_DECREF(after);
        Py_DECREF(at);
        return span;
    }
    default:
        return NULL;
    }
}

/* The taker, bound to (receipts, fallback, ack_cls, the receipts' _max_queued):
 * take(conn, text) -> bool. */
static PyObject *
take(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "take(conn, text) takes 2 arguments");
        return NULL;
    }
    PyObject *receipts = PyTuple_GET_ITEM(self, 0), *fallback = PyTuple_GET_ITEM(self, 1);
    PyTypeObject *cls = (PyTypeObject *)PyTuple_GET_ITEM(self, 2);
    Py_ssize_t limit = PyLong_AsSsize_t(PyTuple_GET_ITEM(self, 3)); /* checked when bound */
    PyObject *conn = args[0], *text = args[1];
    const SlotLayout *layout = layout_of(Py_TYPE(conn));
    PyObject *after, *at;
    switch (window_ack(conn, layout, text, &after, &at)) {
    case ACK_HOLES:
        return PyObject_Vectorcall(fallback, args, 2, NULL);
    case ACK_OTHER:
        Py_RETURN_FALSE; /* not the SDKs' ack frame: parsed as any op */
    case ACK_IGNORED:
        return count_ignored(receipts) < 0 ? NULL : Py_NewRef(Py_True);
    case ACK_COVERED:
        break;
    default:
        return NULL;
    }
    PyObject *key = NULL, *result = NULL;
    PyObject *user_id = get(conn, layout, USER_ID);
    PyObject *topics = user_id == NULL ? NULL : get(conn, layout, TOPICS);
    if (topics == NULL || (key = key_of(conn, layout, user_id, topics)) == NULL)
        goto done;
    int queued = queue(receipts, limit, cls, key, user_id, topics, after, at);
    if (queued < 0)
        goto done;
    if (queued == 0) { /* Receipts.ack's other cases (it wakes the task itself) */
        PyObject *done_ = PyObject_CallMethodObjArgs(receipts, n_ack, user_id, topics, after, at, NULL);
        if (done_ == NULL)
            goto done;
        Py_DECREF(done_);
    }
    else if (wake(receipts) < 0)
        goto done;
    result = Py_NewRef(Py_True);
done:
    Py_XDECREF(key);
    Py_XDECREF(user_id);
    Py_XDECREF(topics);
    Py_DECREF(after);
    Py_DECREF(at);
    return result;
}

static PyMethodDef take_def = {"take", (PyCFunction)(void (*)(void))take, METH_FASTCALL,
                               "take(conn, text) -> bool: the SDKs' ack frame, taken whole"};

/* ack_taker(receipts, fallback, ack_cls) -> take */
PyObject *
ack_taker(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyType_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "ack_taker(receipts, fallback, ack_cls: type)");
        return NULL;
    }
    PyTypeObject *cls = (PyTypeObject *)args[2];
    if (!PyType_IsSubtype(cls, &PyTuple_Type) || cls->tp_itemsize != sizeof(PyObject *) ||
        cls->tp_basicsize != PyTuple_Type.tp_basicsize) {
        PyErr_SetString(PyExc_TypeError, "ack_taker: ack_cls must be a NamedTuple");
        return NULL;
    }
    if (names() < 0)
        return NULL;
    /* the queue's bound: set when the Receipts is made and never changed, so read once */
    PyObject *most = PyObject_GetAttr(args[0], n_max_queued);
    if (most == NULL)
        return NULL;
    Py_ssize_t limit = PyLong_AsSsize_t(most);
    if (limit == -1 && PyErr_Occurred()) {
        Py_DECREF(most);
        return NULL;
    }
    PyObject *bound = PyTuple_Pack(4, args[0], args[1], args[2], most);
    Py_DECREF(most);
    if (bound == NULL)
        return NULL;
    PyObject *taker = PyCFunction_New(&take_def, bound);
    Py_DECREF(bound);
    return taker;
}
