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

/* The n of `cursor` (a str) when it is `<epoch>-<1 to 19 digits>` for an epoch plain_store
 * accepted: 1 with *n, else 0 (common_mark reads it). The mark common_mark would make,
 * (epoch, 0, n), without checking the store's shape again (the last mark's epoch: each
 * publish's cursors share it) and without making it: the Rec holds the numbers. */
static int
plain_number(PyObject *cursor, PyObject *epoch, unsigned long long *n)
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

/* The last mark tracked: a tuple (or None), or its numbers alone (`at` NULL) while the
 * loop's marks are held as numbers; `epoch` (owned) when they are. */
typedef struct {
    PyObject *at;
    PyObject *epoch;
    long long ms, n;
    int fast;
} Last;

/* `last` as a tuple (a new reference), made from its numbers when it is held as them. */
static PyObject *
last_mark(const Last *last)
{
    if (last->at != NULL)
        return Py_NewRef(last->at);
    return untracked(Py_BuildValue("(OLL)", last->epoch, last->ms, last->n));
}

/* Whether the mark (at, or epoch/ms/n when at is NULL and fast) is after `last`: 1, 0, -1. */
static int
after_last(const Last *last, PyObject *at, PyObject *epoch, long long ms, long long n, int fast)
{
    if (last->at == Py_None)
        return 1;
    if (fast && last->fast && epoch == last->epoch)
        return ms > last->ms || (ms == last->ms && n > last->n);
    PyObject *mine = at != NULL ? Py_NewRef(at) : untracked(Py_BuildValue("(OLL)", epoch, ms, n));
    PyObject *theirs = mine == NULL ? NULL : last_mark(last);
    int later = theirs == NULL ? -1 : PyObject_RichCompareBool(mine, theirs, Py_GT);
    Py_XDECREF(mine);
    Py_XDECREF(theirs);
    return later;
}

/* The mark of `cursor`, after `plain_epoch`'s short cut or common_mark: 1 with either *at
 * (a new tuple) or, when *at is NULL, its numbers; 0 when it is not a cursor of the common
 * shape; -1 on error. *fast: its numbers (and *epoch, borrowed) are set. */
static int
read_mark(PyObject *cursor, PyObject *plain_epoch, PyObject **at, PyObject **epoch,
          long long *ms, long long *n, int *fast)
{
    unsigned long long plain_n = 0;
    int plain = plain_epoch != NULL && plain_number(cursor, plain_epoch, &plain_n);
    *at = NULL;
    if (plain && plain_n <= (unsigned long long)LLONG_MAX) {
        *epoch = plain_epoch;
        *ms = 0;
        *n = (long long)plain_n;
        *fast = 1;
        return 1;
    }
    if (plain)
        *at = untracked(Py_BuildValue("(OiK)", plain_epoch, 0, plain_n));
    else
        *at = common_mark(cursor);
    if (*at == NULL)
        return -1;
    if (*at == Py_None) {
        Py_CLEAR(*at);
        return 0;
    }
    *fast = mark_numbers_of(*at, ms, n);
    *epoch = *fast ? PyTuple_GET_ITEM(*at, 0) : NULL;
    return 1;
}

/* Appends `rec` to user_id's waiting list in `waiting` (made when missing). */
static int
wait_for(PyObject *waiting, PyObject *user_id, PyObject *rec)
{
    PyObject *queue = PyDict_GetItemWithError(waiting, user_id);
    if (queue == NULL) {
        if (PyErr_Occurred())
            return -1;
        PyObject *fresh = PyList_New(1);
        if (fresh == NULL)
            return -1;
        PyList_SET_ITEM(fresh, 0, Py_NewRef(rec));
        int failed = PyDict_SetItem(waiting, user_id, fresh);
        Py_DECREF(fresh);
        return failed;
    }
    if (!PyList_Check(queue)) {
        PyErr_SetString(PyExc_TypeError, "track_users: a waiting list is not a list");
        return -1;
    }
    return PyList_Append(queue, rec);
}

/* track_users(items, start, tracked, slots, waiting, seq, last_at, pending, users_target)
 * -> (stopped, seq, last_at)
 *
 * Each mark is held as numbers in the notification's Rec, and whether it is after the
 * last is decided on them when the two share their epoch object (common_mark hands out
 * one per epoch); anything else is compared as tuples, as the twin does. */
PyObject *
track_users(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 9 || !PyList_CheckExact(args[0]) || !PyList_CheckExact(args[2]) ||
        !PyList_CheckExact(args[3]) || !PyDict_CheckExact(args[4]) || !PyType_Check(args[8])) {
        PyErr_SetString(PyExc_TypeError,
                        "track_users(items: list, start, tracked: list, slots: list, "
                        "waiting: dict, seq, last_at, pending, users_target: type)");
        return NULL;
    }
    PyObject *items = args[0], *tracked = args[2], *slots = args[3], *waiting = args[4];
    PyObject *pending = args[7];
    PyTypeObject *users_target = (PyTypeObject *)args[8];
    Py_ssize_t i = PyLong_AsSsize_t(args[1]);
    if (i == -1 && PyErr_Occurred())
        return NULL;
    Py_ssize_t seq = PyLong_AsSsize_t(args[5]);
    if (seq == -1 && PyErr_Occurred())
        return NULL;
    Last last = {Py_NewRef(args[6]), NULL, 0, 0, 0};
    if (last.at != Py_None && mark_numbers_of(last.at, &last.ms, &last.n)) {
        last.fast = 1;
        last.epoch = Py_NewRef(PyTuple_GET_ITEM(last.at, 0));
    }
    /* the last mark's epoch when plain_number may read the next cursor (owned) */
    PyObject *plain_epoch = Py_XNewRef(plain_epoch_of(last.at));
    PyObject *user_ids = NULL, *at = NULL, *rec = NULL;
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
        PyObject *epoch = NULL;
        long long ms = 0, n = 0;
        int fast = 0;
        int read = read_mark(cursor, plain_epoch, &at, &epoch, &ms, &n, &fast);
        int later = read <= 0 ? read : after_last(&last, at, epoch, ms, n, fast);
        if (later < 0)
            goto error;
        if (!later) {
            Py_CLEAR(at);
            Py_CLEAR(user_ids);
            break;
        }
        i++;
        rec = at != NULL ? rec_of_mark(seq, at) : rec_new(seq, epoch, ms, n);
        if (rec == NULL || PyList_Append(tracked, item) < 0 || PyList_Append(slots, pending) < 0 ||
            wait_for(waiting, PyTuple_GET_ITEM(user_ids, 0), rec) < 0)
            goto error;
        Py_CLEAR(rec);
        Py_CLEAR(user_ids);
        /* this mark is the last now; plain_number reads the next cursors of its epoch */
        PyObject *its_epoch = at != NULL ? PyTuple_GET_ITEM(at, 0) : epoch;
        if (its_epoch != plain_epoch)
            Py_XSETREF(plain_epoch, Py_XNewRef(plain_store(its_epoch) ? its_epoch : NULL));
        Py_XSETREF(last.epoch, fast ? Py_NewRef(epoch) : NULL);
        Py_XSETREF(last.at, at); /* NULL: held as numbers */
        at = NULL;
        last.fast = fast;
        last.ms = ms;
        last.n = n;
        seq++;
    }
    PyObject *last_at = last_mark(&last);
    Py_XDECREF(last.at);
    Py_XDECREF(last.epoch);
    Py_XDECREF(plain_epoch);
    if (last_at == NULL)
        return NULL;
    return Py_BuildValue("(nnN)", i, seq, last_at);
error:
    Py_XDECREF(rec);
    Py_XDECREF(at);
    Py_XDECREF(user_ids);
    Py_XDECREF(last.at);
    Py_XDECREF(last.epoch);
    Py_XDECREF(plain_epoch);
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
