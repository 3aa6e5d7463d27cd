/* gateway._receipts: the memory receipt store's per-item loop tracking notifications,
 * track_users (its twin: gateway/receipts/memory_loops.py, which says what it does; the
 * store's loop applying acks, apply_acks, is receipts_apply.c's).
 *
 * In Python these loops were ~6k instructions per tracked notification and ~4k per ack,
 * nearly all the interpreter's own (scripts/profile-receipts). Here they work on the
 * store's own lists and dicts, and anything but what they expect stops them (track_users:
 * the item is left to the store's general path) or raises (apply_acks: the store's
 * structures broke an invariant), never guesses.
 */
#include "receipts.h"

/* untracked() (receipts.h): every tuple the store keeps from here holds only strs,
 * numbers, None, an enum member, a target and other such tuples: none can hold a
 * reference back to it, so it can never be part of a cycle, and untracking it changes
 * nothing but the GC's work. The store keeps several per notification for its lifetime,
 * and each GC-tracked one was scanned in the young, middle and full collections before
 * the GC policy froze it. */

/* target.user_ids (a new reference): from the instance's __dict__, where a pydantic model
 * keeps its fields (its class has no descriptor for them), else by getattr. A getattr
 * through the model's __getattr__ hook cost ~1.4k instructions a notification. Tracking
 * and forgetting (receipts_forget.c) read it. */
PyObject *
user_ids_of(PyObject *target)
{
    static PyObject *user_ids_name; /* "user_ids", interned once */
    if (user_ids_name == NULL && (user_ids_name = PyUnicode_InternFromString("user_ids")) == NULL)
        return NULL;
    PyObject **dict = _PyObject_GetDictPtr(target);
    if (dict != NULL && *dict != NULL && PyDict_CheckExact(*dict)) {
        PyObject *found = PyDict_GetItemWithError(*dict, user_ids_name);
        if (found != NULL)
            return Py_NewRef(found);
        if (PyErr_Occurred())
            return NULL;
    }
    return PyObject_GetAttr(target, user_ids_name);
}

/* A mark's (ms, n) as C numbers when it is an exact (epoch, int, int) tuple whose ints fit
 * a long long (1), else 0: then the marks are compared as tuples. */
static int
mark_numbers(PyObject *mark, long long *ms, long long *n)
{
    if (!PyTuple_CheckExact(mark) || PyTuple_GET_SIZE(mark) != 3)
        return 0;
    PyObject *a = PyTuple_GET_ITEM(mark, 1), *b = PyTuple_GET_ITEM(mark, 2);
    if (!PyLong_CheckExact(a) || !PyLong_CheckExact(b))
        return 0;
    int over_a, over_b;
    *ms = PyLong_AsLongLongAndOverflow(a, &over_a);
    *n = PyLong_AsLongLongAndOverflow(b, &over_b);
    return !over_a && !over_b; /* exact ints: no error but overflow */
}

/* Whether `epoch`, taken as a whole store, is of Cursor.parse's shape and one mark_of
 * would not split (no `.<1 to 19 digits>` at its end after something): then a cursor
 * `<epoch>-<n>` has the mark (epoch, 0, n), which plain_mark reads without common_mark. */
static int
plain_store(PyObject *epoch)
{
    if (!PyUnicode_CheckExact(epoch) || !PyUnicode_IS_COMPACT_ASCII(epoch))
        return 0;
    const unsigned char *s = PyUnicode_1BYTE_DATA(epoch);
    Py_ssize_t len = PyUnicode_GET_LENGTH(epoch);
    if (len < 1 || len > 40) /* receipts.c's STORE_MAX */
        return 0;
    Py_ssize_t dot = -1;
    for (Py_ssize_t i = 0; i < len; i++) {
        unsigned char c = s[i];
        if (c == '.')
            dot = i;
        else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')))
            return 0;
    }
    Py_ssize_t ms_len = len - dot - 1;
    if (dot <= 0 || ms_len < 1 || ms_len > 19)
        return 1;
    for (Py_ssize_t i = dot + 1; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return 1;
    return 0; /* `<epoch>.<ms>`: mark_of splits it */
}

/* The mark of `cursor` (a str) when it is `<epoch>-<1 to 19 digits>` for an epoch
 * plain_store accepted: 1 with *at (a new, untracked tuple) and *n; 0 when it is not of
 * that form (common_mark reads it); -1 on error. The same tuple common_mark makes, without
 * checking the store's shape again (the last mark's epoch: each publish's cursors share
 * it), ~250 instructions a notification. */
static int
plain_mark(PyObject *cursor, PyObject *epoch, PyObject **at, unsigned long long *n)
{
    if (!PyUnicode_IS_COMPACT_ASCII(cursor))
        return 0;
    Py_ssize_t len = PyUnicode_GET_LENGTH(cursor), epoch_len = PyUnicode_GET_LENGTH(epoch);
    Py_ssize_t digits = len - epoch_len - 1;
    if (digits < 1 || digits > 19)
        return 0;
    const unsigned char *s = PyUnicode_1BYTE_DATA(cursor);
    if (s[epoch_len] != '-' ||
        memcmp(s, PyUnicode_1BYTE_DATA(epoch), (size_t)epoch_len) != 0)
        return 0;
    unsigned long long value = 0; /* 19 digits at most: fits */
    for (Py_ssize_t i = epoch_len + 1; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        value = value * 10 + (unsigned long long)(s[i] - '0');
    }
    PyObject *number = PyLong_FromUnsignedLongLong(value);
    if (number == NULL)
        return -1;
    PyObject *mark = PyTuple_New(3);
    if (mark == NULL) {
        Py_DECREF(number);
        return -1;
    }
    PyTuple_SET_ITEM(mark, 0, Py_NewRef(epoch));
    PyTuple_SET_ITEM(mark, 1, PyLong_FromLong(0)); /* a cached small int: never fails */
    PyTuple_SET_ITEM(mark, 2, number);
    *at = untracked(mark);
    *n = value;
    return 1;
}

/* The epoch of `mark` (borrowed) when plain_store accepts it, else NULL. */
static PyObject *
plain_epoch_of(PyObject *mark)
{
    if (!PyTuple_CheckExact(mark) || PyTuple_GET_SIZE(mark) != 3)
        return NULL;
    PyObject *epoch = PyTuple_GET_ITEM(mark, 0);
    return plain_store(epoch) ? epoch : NULL;
}

/* track_users(items, start, tracked, ats, slots, waiting, seq, last_at, pending,
 * users_target) -> (stopped, seq, last_at)
 *
 * Whether each mark is after the last is `at > last_at` as tuples, decided here on C
 * numbers when the two share their epoch object (common_mark hands out one per epoch)
 * and their ints fit: the rich comparison of two tuples was ~340 instructions of ~2.7k a
 * notification. Anything else is compared as tuples. */
PyObject *
track_users(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 10 || !PyList_CheckExact(args[0]) || !PyList_CheckExact(args[2]) ||
        !PyList_CheckExact(args[3]) || !PyList_CheckExact(args[4]) ||
        !PyDict_CheckExact(args[5]) || !PyType_Check(args[9])) {
        PyErr_SetString(PyExc_TypeError,
                        "track_users(items: list, start, tracked: list, ats: list, "
                        "slots: list, waiting: dict, seq, last_at, pending, users_target: type)");
        return NULL;
    }
    PyObject *items = args[0], *tracked = args[2], *ats = args[3];
    PyObject *slots = args[4], *waiting = args[5], *pending = args[8];
    PyTypeObject *users_target = (PyTypeObject *)args[9];
    Py_ssize_t i = PyLong_AsSsize_t(args[1]);
    if (i == -1 && PyErr_Occurred())
        return NULL;
    Py_ssize_t seq = PyLong_AsSsize_t(args[6]);
    if (seq == -1 && PyErr_Occurred())
        return NULL;
    PyObject *last_at = Py_NewRef(args[7]);
    PyObject *user_ids = NULL, *at = NULL, *number = NULL;
    long long last_ms = 0, last_n = 0, ms = 0, n = 0;
    int last_fast = last_at != Py_None && mark_numbers(last_at, &last_ms, &last_n);
    /* last_at's epoch when plain_mark may read the next cursor (borrowed from last_at) */
    PyObject *plain_epoch = plain_epoch_of(last_at);
    if (i < 0)
        i = 0;
    while (i < PyList_GET_SIZE(items)) {
        PyObject *item = PyList_GET_ITEM(items, i);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) < 6)
            break;
        PyObject *target = PyTuple_GET_ITEM(item, 3);
        if (Py_TYPE(target) != users_target || PyTuple_GET_ITEM(item, 5) != Py_None)
            break;
        PyObject *cursor = PyTuple_GET_ITEM(item, 2);
        if (!PyUnicode_Check(cursor))
            break;
        user_ids = user_ids_of(target);
        if (user_ids == NULL)
            goto error;
        if (!PyTuple_Check(user_ids) || PyTuple_GET_SIZE(user_ids) != 1) {
            Py_CLEAR(user_ids);
            break;
        }
        unsigned long long plain_n = 0;
        int plain = plain_epoch == NULL ? 0 : plain_mark(cursor, plain_epoch, &at, &plain_n);
        if (plain < 0)
            goto error;
        int fast;
        if (plain) {
            fast = plain_n <= (unsigned long long)LLONG_MAX;
            ms = 0;
            n = fast ? (long long)plain_n : 0;
        }
        else {
            at = common_mark(cursor);
            if (at == NULL)
                goto error;
            if (at == Py_None) {
                Py_CLEAR(at);
                Py_CLEAR(user_ids);
                break;
            }
            fast = mark_numbers(at, &ms, &n);
        }
        if (last_at != Py_None) {
            int later;
            if (fast && last_fast && PyTuple_GET_ITEM(at, 0) == PyTuple_GET_ITEM(last_at, 0))
                later = ms > last_ms || (ms == last_ms && n > last_n);
            else
                later = PyObject_RichCompareBool(at, last_at, Py_GT);
            if (later < 0)
                goto error;
            if (!later) {
                Py_CLEAR(at);
                Py_CLEAR(user_ids);
                break;
            }
        }
        i++;
        number = PyLong_FromSsize_t(seq);
        if (number == NULL)
            goto error;
        if (PyList_Append(tracked, item) < 0 || PyList_Append(ats, at) < 0 ||
            PyList_Append(slots, pending) < 0)
            goto error;
        if (PyTuple_GET_ITEM(at, 0) != plain_epoch) /* before last_at, which holds it, goes */
            plain_epoch = plain_epoch_of(at);
        Py_SETREF(last_at, at);
        at = NULL;
        last_fast = fast;
        last_ms = ms;
        last_n = n;
        PyObject *user_id = PyTuple_GET_ITEM(user_ids, 0);
        PyObject *queue = PyDict_GetItemWithError(waiting, user_id);
        if (queue == NULL) {
            if (PyErr_Occurred())
                goto error;
            PyObject *fresh = PyList_New(1);
            if (fresh == NULL)
                goto error;
            PyList_SET_ITEM(fresh, 0, Py_NewRef(number));
            int failed = PyDict_SetItem(waiting, user_id, fresh);
            Py_DECREF(fresh);
            if (failed < 0)
                goto error;
        }
        else if (!PyList_Check(queue)) {
            PyErr_SetString(PyExc_TypeError, "track_users: a waiting list is not a list");
            goto error;
        }
        else if (PyList_Append(queue, number) < 0)
            goto error;
        Py_CLEAR(number);
        Py_CLEAR(user_ids);
        seq++;
    }
    return Py_BuildValue("(nnN)", i, seq, last_at);
error:
    Py_XDECREF(number);
    Py_XDECREF(at);
    Py_XDECREF(user_ids);
    Py_DECREF(last_at);
    return NULL;
}

/* `seq[i]` when seq is a tuple of at least `size` fields (borrowed), else NULL (no error). */
static PyObject *
field(PyObject *seq, Py_ssize_t i, Py_ssize_t size)
{
    if (!PyTuple_Check(seq) || PyTuple_GET_SIZE(seq) < size)
        return NULL;
    return PyTuple_GET_ITEM(seq, i);
}

/* tracked_items(cls, items, drafts, results, accepted_at) -> list | None: the twin is
 * gateway/receipts/tracker.py's `tracked_py` (the fields read by position: tracker.py
 * checks the NamedTuples' fields at import). None when an element is not the tuple it
 * should be (then the twin runs, and raises as it does). */
PyObject *
tracked_items(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5 || !PyType_Check(args[0]) || !PyList_CheckExact(args[1]) ||
        !PyList_CheckExact(args[2]) || !PyList_CheckExact(args[3])) {
        PyErr_SetString(PyExc_TypeError,
                        "tracked_items(cls: type, items: list, drafts: list, results: list, "
                        "accepted_at)");
        return NULL;
    }
    PyTypeObject *cls = (PyTypeObject *)args[0];
    if (!PyType_IsSubtype(cls, &PyTuple_Type) || cls->tp_itemsize != sizeof(PyObject *) ||
        cls->tp_basicsize != PyTuple_Type.tp_basicsize) {
        PyErr_SetString(PyExc_TypeError, "tracked_items: cls must be a NamedTuple");
        return NULL;
    }
    PyObject *items = args[1], *drafts = args[2], *results = args[3], *accepted_at = args[4];
    Py_ssize_t n = PyList_GET_SIZE(items);
    if (PyList_GET_SIZE(drafts) != n || PyList_GET_SIZE(results) != n)
        Py_RETURN_NONE; /* zip(strict=True) raises: the twin's error */
    /* sized once (what a repeat or conflict leaves unused is cut off at the end): appended
     * one by one, the list's growth was ~0.15k instructions a notification */
    PyObject *made = PyList_New(n);
    if (made == NULL)
        return NULL;
    Py_ssize_t count = 0;
    for (Py_ssize_t i = 0; i < n && i < PyList_GET_SIZE(items) && i < PyList_GET_SIZE(drafts) &&
                           i < PyList_GET_SIZE(results);
         i++) {
        PyObject *item = PyList_GET_ITEM(items, i), *draft = PyList_GET_ITEM(drafts, i);
        PyObject *result = PyList_GET_ITEM(results, i);
        PyObject *notification = field(item, 1, 2);
        PyObject *type = notification == NULL ? NULL : field(notification, 1, 2);
        PyObject *cursor = field(result, 0, 4), *target = field(draft, 0, 5);
        if (type == NULL || cursor == NULL || target == NULL) {
            Py_DECREF(made);
            Py_RETURN_NONE;
        }
        /* held: a result's __bool__ may be anyone's code (their fields are then safe) */
        Py_INCREF(notification);
        Py_INCREF(draft);
        Py_INCREF(result);
        int repeat = PyObject_IsTrue(PyTuple_GET_ITEM(result, 2));
        if (repeat == 0)
            repeat = PyObject_IsTrue(PyTuple_GET_ITEM(result, 3));
        PyObject *fields[6] = {PyTuple_GET_ITEM(draft, 1), type, cursor, target, accepted_at,
                               PyTuple_GET_ITEM(draft, 4)};
        PyObject *one = repeat != 0 ? NULL : record(cls, 6, fields);
        if (one != NULL) {
            PyList_SET_ITEM(made, count, one); /* count <= i < n */
            count++;
        }
        else if (repeat == 0)
            repeat = -1; /* the allocation failed */
        Py_DECREF(notification);
        Py_DECREF(draft);
        Py_DECREF(result);
        if (repeat < 0) {
            Py_DECREF(made);
            return NULL;
        }
    }
    if (count < n && PyList_SetSlice(made, count, n, NULL) < 0) {
        Py_DECREF(made);
        return NULL;
    }
    return made;
}
