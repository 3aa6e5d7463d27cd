/* append: the memory log's append loop (gateway/log/memory.py's MemoryLog.append_py) in C.
 *
 * The same steps in the same order, with the same state left behind on the log: per
 * draft the fingerprint, the idempotency lookup (a duplicate or a conflict answers the
 * first cursor), else the next sequence number (stored on the log before the listener
 * runs, so head() is current), the cursor `<epoch>-<seq>`, the Entry, the retained
 * (seq, now, entry), the id's (cursor, fingerprint) and its expiry, the two bounds, and
 * the listener's deliver. In Python the loop cost ~7k instructions per notification
 * besides the fingerprint and the fan-out (callgrind): attribute reads of a NamedTuple,
 * an f-string, five tuples and the calls that append them.
 *
 * It declines (returns None, having changed nothing) when a draft is not a Draft, the
 * clock is not a float or the log's state is not of the shapes memory.py makes: then
 * the twin runs. An exception from the fingerprint, a ttl or the listener stops the
 * loop where the twin's would stop, with the same state kept.
 *
 * What it works with (the classes, the fingerprint, the names) is set once by
 * configure_append, in memlog_config.c.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "memlog.h"
#include "publish.h"

/* A NamedTuple of `cls` from `n` values (stolen), then `tail`'s defaults; NULL on error
 * (the values released). */
static PyObject *
named(PyTypeObject *cls, PyObject **values, Py_ssize_t n, PyObject *tail)
{
    Py_ssize_t extra = PyTuple_GET_SIZE(tail);
    PyObject *made = cls->tp_alloc(cls, n + extra);
    if (made == NULL) {
        for (Py_ssize_t i = 0; i < n; i++)
            Py_DECREF(values[i]);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        PyTuple_SET_ITEM(made, i, values[i]);
    for (Py_ssize_t i = 0; i < extra; i++)
        PyTuple_SET_ITEM(made, n + i, Py_NewRef(PyTuple_GET_ITEM(tail, i)));
    return made;
}

/* An AppendResult(cursor, delivered, duplicate, conflict); `delivered` is stolen. */
static PyObject *
result_of(PyObject *cursor, PyObject *delivered, int duplicate, int conflict)
{
    PyObject *values[4] = {Py_NewRef(cursor), delivered,
                           Py_NewRef(duplicate ? Py_True : Py_False),
                           Py_NewRef(conflict ? Py_True : Py_False)};
    return named(memlog.result, values, 4, memlog.result_tail);
}

/* f"{prefix}{seq}" for an ASCII prefix (the epoch's hex and "-"). */
static PyObject *
cursor_of(const char *prefix, Py_ssize_t prefix_len, long long seq)
{
    char digits[24];
    char *end = digits + sizeof digits, *w = end;
    unsigned long long u = seq < 0 ? 0ULL - (unsigned long long)seq : (unsigned long long)seq;
    do {
        *--w = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (seq < 0)
        *--w = '-';
    Py_ssize_t n = (Py_ssize_t)(end - w);
    PyObject *cursor = PyUnicode_New(prefix_len + n, 127);
    if (cursor == NULL)
        return NULL;
    char *out = (char *)PyUnicode_1BYTE_DATA(cursor);
    memcpy(out, prefix, (size_t)prefix_len);
    memcpy(out + prefix_len, w, (size_t)n);
    return cursor;
}

/* by_id.pop(id_expiry.popleft()[1], None) */
static int
forget_oldest(PyObject *by_id, PyObject *popleft)
{
    PyObject *oldest = PyObject_CallNoArgs(popleft);
    if (oldest == NULL)
        return -1;
    PyObject *id = PySequence_GetItem(oldest, 1);
    Py_DECREF(oldest);
    if (id == NULL)
        return -1;
    int r = PyDict_DelItem(by_id, id);
    Py_DECREF(id);
    if (r < 0 && PyErr_ExceptionMatches(PyExc_KeyError)) {
        PyErr_Clear();
        r = 0;
    }
    return r;
}

/* log._evicted_through = entries.popleft()[0] */
static int
evict_oldest(PyObject *log, PyObject *popleft)
{
    PyObject *oldest = PyObject_CallNoArgs(popleft);
    if (oldest == NULL)
        return -1;
    PyObject *seq = PySequence_GetItem(oldest, 0);
    Py_DECREF(oldest);
    if (seq == NULL)
        return -1;
    int r = PyObject_SetAttr(log, memlog.s_evicted, seq);
    Py_DECREF(seq);
    return r;
}

/* replay_until: None for no ttl, else now + ttl.total_seconds() */
static PyObject *
replay_until_of(PyObject *now, PyObject *ttl)
{
    if (ttl == Py_None)
        return Py_NewRef(Py_None);
    PyObject *seconds = PyObject_CallMethodNoArgs(ttl, memlog.s_total_seconds);
    if (seconds == NULL)
        return NULL;
    PyObject *until = PyNumber_Add(now, seconds);
    Py_DECREF(seconds);
    return until;
}

typedef struct {
    PyObject *log, *now, *deliver;
    PyObject *by_id, *entries, *id_expiry, *forget_at;
    PyObject *entries_append, *entries_popleft, *expiry_append, *expiry_popleft;
    Py_ssize_t max_ids, max_entries;
    const char *prefix;
    Py_ssize_t prefix_len;
    long long seq;
} state;

/* One draft's result (a new reference), or NULL with an error. */
static PyObject *
append_one(state *st, PyObject *draft)
{
    PyObject *target = PyTuple_GET_ITEM(draft, 0), *id = PyTuple_GET_ITEM(draft, 1),
             *body = PyTuple_GET_ITEM(draft, 2);
    PyObject *pair[2] = {target, body};
    PyObject *print = PyObject_Vectorcall(memlog.fingerprint, pair, 2, NULL);
    if (print == NULL)
        return NULL;
    PyObject *result = NULL, *first = PyDict_GetItemWithError(st->by_id, id); /* borrowed */
    if (first != NULL) {
        Py_INCREF(first);
        PyObject *cursor = NULL, *first_print = NULL;
        if (PyTuple_CheckExact(first) && PyTuple_GET_SIZE(first) == 2) {
            cursor = PyTuple_GET_ITEM(first, 0);
            first_print = PyTuple_GET_ITEM(first, 1);
        } else {
            PyErr_SetString(PyExc_ValueError, "the idempotency window holds a stranger");
            goto dup_done;
        }
        PyObject *same = PyObject_RichCompare(first_print, print, Py_EQ);
        int equal = same == NULL ? -1 : PyObject_IsTrue(same);
        Py_XDECREF(same);
        if (equal >= 0)
            result = result_of(cursor, PyLong_FromLong(0), equal, !equal);
    dup_done:
        Py_DECREF(first);
        Py_DECREF(print);
        return result;
    }
    if (PyErr_Occurred()) {
        Py_DECREF(print);
        return NULL;
    }
    PyObject *seq = PyLong_FromLongLong(++st->seq);
    if (seq == NULL || PyObject_SetAttr(st->log, memlog.s_seq, seq) < 0) { /* head() is current */
        Py_XDECREF(seq);
        Py_DECREF(print);
        return NULL;
    }
    PyObject *until = replay_until_of(st->now, PyTuple_GET_ITEM(draft, 3));
    PyObject *cursor = until == NULL ? NULL : cursor_of(st->prefix, st->prefix_len, st->seq);
    if (cursor == NULL) {
        Py_XDECREF(until);
        Py_DECREF(seq);
        Py_DECREF(print);
        return NULL;
    }
    PyObject *values[7] = {Py_NewRef(cursor), Py_NewRef(target), Py_NewRef(id),
                           Py_NewRef(body), until,
                           Py_NewRef(PyTuple_GET_ITEM(draft, 4)),
                           Py_NewRef(PyTuple_GET_ITEM(draft, 5))};
    PyObject *entry = named(memlog.entry, values, 7, memlog.entry_tail);
    PyObject *kept = NULL, *known = NULL, *expiry = NULL, *delivered = NULL;
    if (entry == NULL)
        goto done;
    kept = PyTuple_Pack(3, seq, st->now, entry);
    if (kept == NULL)
        goto done;
    PyObject *done_append = PyObject_CallOneArg(st->entries_append, kept);
    if (done_append == NULL)
        goto done;
    Py_DECREF(done_append);
    known = PyTuple_Pack(2, cursor, print);
    if (known == NULL || PyDict_SetItem(st->by_id, id, known) < 0)
        goto done;
    expiry = PyTuple_Pack(2, st->forget_at, id);
    if (expiry == NULL)
        goto done;
    done_append = PyObject_CallOneArg(st->expiry_append, expiry);
    if (done_append == NULL)
        goto done;
    Py_DECREF(done_append);
    if (PyDict_GET_SIZE(st->by_id) > st->max_ids && forget_oldest(st->by_id, st->expiry_popleft) < 0)
        goto done;
    Py_ssize_t retained = PyObject_Size(st->entries);
    if (retained < 0)
        goto done;
    if (retained > st->max_entries && evict_oldest(st->log, st->entries_popleft) < 0)
        goto done;
    delivered = PyObject_CallOneArg(st->deliver, entry);
    if (delivered != NULL)
        result = result_of(cursor, delivered, 0, 0);
done:
    Py_XDECREF(expiry);
    Py_XDECREF(known);
    Py_XDECREF(kept);
    Py_XDECREF(entry);
    Py_DECREF(cursor);
    Py_DECREF(seq);
    Py_DECREF(print);
    return result;
}

/* A new reference to `log.<name>`, which must be of `type` (NULL: a stranger, declined). */
static PyObject *
attr(PyObject *log, PyObject *name, PyTypeObject *type, int *failed)
{
    PyObject *value = PyObject_GetAttr(log, name);
    if (value == NULL) {
        *failed = 1;
        return NULL;
    }
    if (type != NULL && !Py_IS_TYPE(value, type)) {
        Py_DECREF(value);
        return NULL;
    }
    return value;
}

/* append(log, drafts, now, deliver) -> list of AppendResult, or None to decline. */
PyObject *
gw_memory_append(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 4 || !PyList_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "append(log, drafts: list, now, deliver)");
        return NULL;
    }
    if (!memlog.ready) {
        PyErr_SetString(PyExc_RuntimeError, "append before configure_append");
        return NULL;
    }
    PyObject *log = args[0], *drafts = args[1];
    if (!PyFloat_CheckExact(args[2]))
        Py_RETURN_NONE;
    Py_ssize_t count = PyList_GET_SIZE(drafts);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *draft = PyList_GET_ITEM(drafts, i);
        if (!Py_IS_TYPE(draft, memlog.draft) || PyTuple_GET_SIZE(draft) < 6)
            Py_RETURN_NONE;
    }
    state st = {.log = log, .now = args[2], .deliver = args[3]};
    PyObject *results = NULL, *window = NULL, *epoch = NULL, *seq = NULL, *max_ids = NULL,
             *max_entries = NULL;
    int failed = 0;
    st.by_id = attr(log, memlog.s_by_id, &PyDict_Type, &failed);
    st.entries = failed ? NULL : attr(log, memlog.s_entries, NULL, &failed);
    st.id_expiry = failed ? NULL : attr(log, memlog.s_id_expiry, NULL, &failed);
    window = failed ? NULL : attr(log, memlog.s_window, NULL, &failed);
    epoch = failed ? NULL : attr(log, memlog.s_epoch, &PyUnicode_Type, &failed);
    seq = failed ? NULL : attr(log, memlog.s_seq, &PyLong_Type, &failed);
    max_ids = failed ? NULL : attr(log, memlog.s_max_ids, &PyLong_Type, &failed);
    max_entries = failed ? NULL : attr(log, memlog.s_max_entries, &PyLong_Type, &failed);
    if (failed)
        goto done;
    if (st.by_id == NULL || st.entries == NULL || st.id_expiry == NULL || window == NULL ||
        epoch == NULL || seq == NULL || max_ids == NULL || max_entries == NULL ||
        !PyUnicode_IS_ASCII(epoch)) {
        results = Py_NewRef(Py_None);
        goto done;
    }
    int overflow = 0;
    st.seq = PyLong_AsLongLongAndOverflow(seq, &overflow);
    if (overflow || st.seq > LLONG_MAX - count) {
        results = Py_NewRef(Py_None);
        goto done;
    }
    st.max_ids = PyLong_AsSsize_t(max_ids);
    st.max_entries = PyLong_AsSsize_t(max_entries);
    if ((st.max_ids == -1 || st.max_entries == -1) && PyErr_Occurred()) {
        PyErr_Clear();
        results = Py_NewRef(Py_None);
        goto done;
    }
    /* the prefix, and the clock of this call: forget_at, the bound appends */
    st.prefix = PyUnicode_AsUTF8AndSize(epoch, &st.prefix_len);
    char prefix[128];
    if (st.prefix == NULL)
        goto done;
    if (st.prefix_len + 1 > (Py_ssize_t)sizeof prefix) {
        results = Py_NewRef(Py_None);
        goto done;
    }
    memcpy(prefix, st.prefix, (size_t)st.prefix_len);
    prefix[st.prefix_len++] = '-';
    st.prefix = prefix;
    st.forget_at = PyNumber_Add(st.now, window);
    if (st.forget_at == NULL)
        goto done;
    st.entries_append = PyObject_GetAttr(st.entries, memlog.s_append);
    st.entries_popleft = st.entries_append ? PyObject_GetAttr(st.entries, memlog.s_popleft) : NULL;
    st.expiry_append = st.entries_popleft ? PyObject_GetAttr(st.id_expiry, memlog.s_append) : NULL;
    st.expiry_popleft = st.expiry_append ? PyObject_GetAttr(st.id_expiry, memlog.s_popleft) : NULL;
    if (st.expiry_popleft == NULL)
        goto done;
    results = PyList_New(count);
    if (results == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < count; i++) {
        /* held while the listener runs: whatever it does to the list */
        PyObject *draft = i < PyList_GET_SIZE(drafts) ? PyList_GET_ITEM(drafts, i) : NULL;
        if (draft == NULL || !Py_IS_TYPE(draft, memlog.draft) || PyTuple_GET_SIZE(draft) < 6) {
            PyErr_SetString(PyExc_RuntimeError, "the drafts changed during append");
            Py_CLEAR(results);
            goto done;
        }
        Py_INCREF(draft);
        PyObject *result = append_one(&st, draft);
        Py_DECREF(draft);
        if (result == NULL) {
            Py_CLEAR(results);
            goto done;
        }
        PyList_SET_ITEM(results, i, result);
    }
done:
    Py_XDECREF(st.expiry_popleft);
    Py_XDECREF(st.expiry_append);
    Py_XDECREF(st.entries_popleft);
    Py_XDECREF(st.entries_append);
    Py_XDECREF(st.forget_at);
    Py_XDECREF(max_entries);
    Py_XDECREF(max_ids);
    Py_XDECREF(seq);
    Py_XDECREF(epoch);
    Py_XDECREF(window);
    Py_XDECREF(st.id_expiry);
    Py_XDECREF(st.entries);
    Py_XDECREF(st.by_id);
    return results;
}
