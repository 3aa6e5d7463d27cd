/* gateway._receipts: ack_taker, the SDKs' ack frame taken whole in one C call: read
 * against its connection (read_ack's rules, the connection's ack state updated, as
 * ack_range does) and queued with the receipts (Receipts.ack's two common cases: the
 * user has no ack queued and there is room, or the queued one's range meets this one's).
 *
 * Its twin is the Python handler it stands in for, receipts/handlers.py's
 * `_Handlers.ack_text` (ack_range, then Receipts.ack), and it hands everything else to
 * Python: a connection with replay holes to that handler, a full queue or a range apart
 * from the queued one to Receipts.ack itself, so every rule stays the Python code's. Per
 * ack it spares two Python calls (the handler's and Receipts.ack's) and their tuples.
 */
#include "receipts.h"

static PyObject *n_acked, *n_sent, *n_unsent, *n_user_id, *n_topics, *n_acks, *n_reads,
    *n_max_queued, *n_woken, *n_wake, *n_ack, *n_stats, *n_ignored;

static int
names(void)
{
    if (n_ignored != NULL)
        return 0;
    struct {
        PyObject **slot;
        const char *text;
    } all[] = {
        {&n_acked, "_acked"},       {&n_sent, "_sent"},   {&n_unsent, "_unsent"},
        {&n_user_id, "user_id"},    {&n_topics, "topics"}, {&n_acks, "_acks"},
        {&n_reads, "_reads"},       {&n_max_queued, "_max_queued"},
        {&n_woken, "_woken"},       {&n_wake, "wake"},    {&n_ack, "ack"},
        {&n_stats, "stats"},        {&n_ignored, "acks_ignored"},
    };
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (*all[i].slot == NULL && (*all[i].slot = PyUnicode_InternFromString(all[i].text)) == NULL)
            return -1;
    return 0;
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
    PyObject *ack = cls->tp_alloc(cls, 4);
    if (ack == NULL)
        return NULL;
    PyTuple_SET_ITEM(ack, 0, Py_NewRef(user_id));
    PyTuple_SET_ITEM(ack, 1, Py_NewRef(topics));
    PyTuple_SET_ITEM(ack, 2, Py_NewRef(floor));
    PyTuple_SET_ITEM(ack, 3, Py_NewRef(upto));
    return untracked(ack);
}

/* Receipts.ack(user_id, topics, floor, upto) for its two common cases: 1 done, 0 not one
 * of them (Python then), -1 error. */
static int
queue(PyObject *receipts, PyTypeObject *cls, PyObject *user_id, PyObject *topics,
      PyObject *floor, PyObject *upto)
{
    int done = -1;
    PyObject *acks = PyObject_GetAttr(receipts, n_acks);
    if (acks == NULL)
        return -1;
    PyObject *key = PyTuple_Pack(2, user_id, topics);
    if (key == NULL || !PyDict_CheckExact(acks)) {
        done = key == NULL ? -1 : 0;
        goto out;
    }
    PyObject *queued = PyDict_GetItemWithError(acks, key);
    if (queued == NULL) {
        if (PyErr_Occurred())
            goto out;
        PyObject *reads = PyObject_GetAttr(receipts, n_reads);
        PyObject *most = reads == NULL ? NULL : PyObject_GetAttr(receipts, n_max_queued);
        Py_ssize_t size = reads == NULL ? -1 : PyObject_Size(reads);
        Py_ssize_t limit = most == NULL ? -1 : PyLong_AsSsize_t(most);
        Py_XDECREF(reads);
        Py_XDECREF(most);
        if (size < 0 || (limit == -1 && PyErr_Occurred()))
            goto out;
        if (PyDict_GET_SIZE(acks) + size >= limit) {
            done = 0; /* full: Receipts.ack drops and counts it */
            goto out;
        }
        PyObject *ack = new_ack(cls, user_id, topics, floor, upto);
        done = ack == NULL || PyDict_SetItem(acks, key, ack) < 0 ? -1 : 1;
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
        apart = PyObject_RichCompareBool(PyTuple_GET_ITEM(floor, 0), PyTuple_GET_ITEM(low, 0), Py_NE);
    if (apart == 0)
        apart = PyObject_RichCompareBool(floor, high, Py_GT);
    if (apart == 0)
        apart = PyObject_RichCompareBool(upto, low, Py_LT);
    if (apart != 0) {
        done = apart < 0 ? -1 : 0;
        Py_DECREF(queued);
        goto out;
    }
    int lower = PyObject_RichCompareBool(floor, low, Py_LT);
    int higher = lower < 0 ? -1 : PyObject_RichCompareBool(upto, high, Py_GT);
    if (lower < 0 || higher < 0) {
        Py_DECREF(queued);
        goto out;
    }
    done = 1;
    if (lower || higher) { /* min(floor, low), max(upto, high), as Receipts.ack */
        PyObject *ack = new_ack(cls, user_id, topics, lower ? floor : low, higher ? upto : high);
        done = ack == NULL || PyDict_SetItem(acks, key, ack) < 0 ? -1 : 1;
        Py_XDECREF(ack);
    }
    Py_DECREF(queued);
out:
    Py_XDECREF(key);
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

/* The taker, bound to (receipts, fallback, ack_cls): take(conn, text) -> bool. */
static PyObject *
take(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "take(conn, text) takes 2 arguments");
        return NULL;
    }
    PyObject *receipts = PyTuple_GET_ITEM(self, 0), *fallback = PyTuple_GET_ITEM(self, 1);
    PyTypeObject *cls = (PyTypeObject *)PyTuple_GET_ITEM(self, 2);
    PyObject *conn = args[0], *text = args[1];
    PyObject *unsent = PyObject_GetAttr(conn, n_unsent);
    if (unsent == NULL)
        return NULL;
    int holes = PyObject_IsTrue(unsent);
    Py_DECREF(unsent);
    if (holes != 0)
        return holes < 0 ? NULL : PyObject_Vectorcall(fallback, args, 2, NULL);
    PyObject *after = PyObject_GetAttr(conn, n_acked);
    PyObject *sent = after == NULL ? NULL : PyObject_GetAttr(conn, n_sent);
    if (sent == NULL) {
        Py_XDECREF(after);
        return NULL;
    }
    PyObject *at = NULL, *last = NULL, *user_id = NULL, *topics = NULL, *result = NULL;
    int covered = 0;
    int read = read_parts(text, after, sent, &at, &last, &covered);
    Py_DECREF(sent);
    if (read <= 0) {
        Py_DECREF(after);
        if (read < 0)
            return NULL;
        Py_RETURN_FALSE; /* not the SDKs' ack frame: parsed as any op */
    }
    if (PyObject_SetAttr(conn, n_sent, last) < 0)
        goto done;
    if (!covered) {
        if (count_ignored(receipts) == 0)
            result = Py_NewRef(Py_True);
        goto done;
    }
    if (PyObject_SetAttr(conn, n_acked, at) < 0)
        goto done;
    user_id = PyObject_GetAttr(conn, n_user_id);
    topics = user_id == NULL ? NULL : PyObject_GetAttr(conn, n_topics);
    if (topics == NULL)
        goto done;
    int queued = queue(receipts, cls, user_id, topics, after, at);
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
    Py_XDECREF(user_id);
    Py_XDECREF(topics);
    Py_DECREF(after);
    Py_DECREF(at);
    Py_DECREF(last);
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
    PyObject *bound = PyTuple_Pack(3, args[0], args[1], args[2]);
    if (bound == NULL)
        return NULL;
    PyObject *taker = PyCFunction_New(&take_def, bound);
    Py_DECREF(bound);
    return taker;
}
