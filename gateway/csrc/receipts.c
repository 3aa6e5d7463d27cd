/* gateway._receipts: receipts' ack frame, read and checked in one call.
 *
 * With receipts on, most frames a client sends are its cumulative ack,
 * {"op":"ack","cursor":"C"}, and the ack covers the last notification written to the
 * connection. In Python that frame was a regex, the cursor's place parsed into a mark, the
 * last frame written read back for its cursor and four tuple comparisons: ~19k
 * instructions of an ack's ~43k (scripts/profile-receipts). `read_ack` does all of it in one
 * call and, like the twin it is held to (gateway/connection/ackread.py `read_ack_py`),
 * answers None for anything but the common form, which then takes the general path
 * (parse_client_op, the models, Connection.ack_span) as before: no rule is judged only here.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

#include "receipts.h"

static const char HEAD[] = "{\"event\":\"notification\",\"cursor\":\"";
#define HEAD_LEN ((Py_ssize_t)(sizeof(HEAD) - 1))
/* Outgoing's frames: the head starts after a 2- or 4-byte frame header; frame_cursor
 * looks for it in the first 10 + len(HEAD) bytes. */
#define HEAD_END (10 + HEAD_LEN)

/* s[*at:] starts with `word`: move past it. */
static int
skip(const unsigned char *s, Py_ssize_t len, Py_ssize_t *at, const char *word)
{
    Py_ssize_t n = (Py_ssize_t)strlen(word);
    if (len - *at < n || memcmp(s + *at, word, (size_t)n) != 0)
        return 0;
    *at += n;
    return 1;
}

static void
skip_space(const unsigned char *s, Py_ssize_t len, Py_ssize_t *at)
{
    if (*at < len && s[*at] == ' ')
        (*at)++;
}

/* Where the cursor of a notification frame as Outgoing made it begins, or -1. */
static Py_ssize_t
frame_cursor_at(const char *frame, Py_ssize_t size)
{
    Py_ssize_t end = size < HEAD_END ? size : HEAD_END;
    for (Py_ssize_t i = 0; i + HEAD_LEN <= end; i++)
        if (frame[i] == '{' && memcmp(frame + i, HEAD, (size_t)HEAD_LEN) == 0)
            return i + HEAD_LEN;
    return -1;
}

/* The same answers as the twin's `not (at[0] != last[0] or at > last or at[0] !=
 * after[0] or at <= after)`, evaluated in its order: 1, 0, or -1 with an exception. */
static int
covers(PyObject *at, PyObject *last, PyObject *after)
{
    int r = epoch_differs(PyTuple_GET_ITEM(at, 0), PyTuple_GET_ITEM(last, 0));
    if (r != 0)
        return r < 0 ? -1 : 0;
    if ((r = marks_compare(at, last, Py_GT)) != 0)
        return r < 0 ? -1 : 0;
    r = epoch_differs(PyTuple_GET_ITEM(at, 0), PyTuple_GET_ITEM(after, 0));
    if (r != 0)
        return r < 0 ? -1 : 0;
    if ((r = marks_compare(at, after, Py_LE)) != 0)
        return r < 0 ? -1 : 0;
    return 1;
}

/* The ack frame `text` read against `after` and `sent` (read_ack_py's rules): 1 with *at
 * and *last (new references) and *covered set; 0 when the twin answers None (not the
 * common form, or a `sent` it does not know); -1 with an exception. */
int
read_parts(PyObject *text, PyObject *after, PyObject *sent, PyObject **at_out,
           PyObject **last_out, int *covered)
{
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "read_ack: text must be str");
        return -1;
    }
    if (!PyUnicode_IS_COMPACT_ASCII(text))
        return 0; /* the frame's form is ASCII: anything else is the general path's */
    const unsigned char *s = PyUnicode_1BYTE_DATA(text);
    Py_ssize_t len = PyUnicode_GET_LENGTH(text);
    Py_ssize_t i = 0;
    if (!skip(s, len, &i, "{\"op\":"))
        return 0;
    skip_space(s, len, &i);
    if (!skip(s, len, &i, "\"ack\","))
        return 0;
    skip_space(s, len, &i);
    if (!skip(s, len, &i, "\"cursor\":"))
        return 0;
    skip_space(s, len, &i);
    if (!skip(s, len, &i, "\"") || len - i < 2 || s[len - 2] != '"' || s[len - 1] != '}')
        return 0;
    const unsigned char *cursor = s + i;
    Py_ssize_t cursor_len = len - 2 - i;
    Py_ssize_t store_len = cursor_shape(cursor, cursor_len);
    if (store_len < 0)
        return 0;
    PyObject *at = mark_of(cursor, cursor_len, store_len);
    if (at == NULL)
        return -1;
    if (after == Py_None || sent == Py_None) {
        *at_out = at;
        *last_out = Py_NewRef(sent);
        *covered = 0;
        return 1;
    }
    if (!PyTuple_CheckExact(after) || PyTuple_GET_SIZE(after) != 3) {
        Py_DECREF(at);
        return 0;
    }
    PyObject *last;
    if (PyBytes_CheckExact(sent)) {
        const char *frame = PyBytes_AS_STRING(sent);
        Py_ssize_t size = PyBytes_GET_SIZE(sent);
        Py_ssize_t start = frame_cursor_at(frame, size);
        const char *quote =
            start < 0 ? NULL : memchr(frame + start, '"', (size_t)(size - start));
        Py_ssize_t sent_len = quote == NULL ? -1 : quote - (frame + start);
        if (sent_len == cursor_len && memcmp(frame + start, cursor, (size_t)cursor_len) == 0) {
            last = at; /* the ack's own cursor (the common case): its shape is checked */
            Py_INCREF(last);
        }
        else {
            Py_ssize_t sent_store =
                sent_len < 0 ? -1
                             : cursor_shape((const unsigned char *)frame + start, sent_len);
            if (sent_store < 0) {
                Py_DECREF(at);
                return 0;
            }
            last = mark_of((const unsigned char *)frame + start, sent_len, sent_store);
            if (last == NULL) {
                Py_DECREF(at);
                return -1;
            }
        }
    }
    else if (PyTuple_CheckExact(sent) && PyTuple_GET_SIZE(sent) == 3) {
        last = sent;
        Py_INCREF(last);
    }
    else {
        Py_DECREF(at);
        return 0;
    }
    int found = covers(at, last, after);
    if (found < 0) {
        Py_DECREF(at);
        Py_DECREF(last);
        return -1;
    }
    *at_out = at;
    *last_out = last;
    *covered = found;
    return 1;
}

/* read_ack(text, after, sent): see gateway/connection/ackread.py's `read_ack_py`. */
static PyObject *
read_ack(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "read_ack(text, after, sent) takes 3 arguments");
        return NULL;
    }
    PyObject *at, *last;
    int covered;
    int read = read_parts(args[0], args[1], args[2], &at, &last, &covered);
    if (read <= 0) {
        if (read < 0)
            return NULL;
        Py_RETURN_NONE;
    }
    PyObject *result = PyTuple_Pack(3, at, last, covered ? Py_True : Py_False);
    Py_DECREF(at);
    Py_DECREF(last);
    return result;
}

/* is_notification(frame): whether a WebSocket frame as Outgoing made it is a
 * notification's: `frame.find(HEAD, 2, 10 + len(HEAD)) >= 0`, the check a connection makes
 * once per write while receipts are on (bytes.find's argument parsing was ~1.5k
 * instructions of it). */
static int
notification_head(PyObject *frame) /* frame: bytes */
{
    const char *data = PyBytes_AS_STRING(frame);
    Py_ssize_t size = PyBytes_GET_SIZE(frame);
    Py_ssize_t end = size < HEAD_END ? size : HEAD_END;
    for (Py_ssize_t i = 2; i + HEAD_LEN <= end; i++)
        if (data[i] == '{' && memcmp(data + i, HEAD, (size_t)HEAD_LEN) == 0)
            return 1;
    return 0;
}

static PyObject *
is_notification(PyObject *Py_UNUSED(module), PyObject *frame)
{
    if (!PyBytes_Check(frame)) {
        PyErr_SetString(PyExc_TypeError, "is_notification: frame must be bytes");
        return NULL;
    }
    return PyBool_FromLong(notification_head(frame));
}

/* last_notification(frames): a write's last frame when it is a notification's (as
 * is_notification), else None: what Outbox.flush notes as the last notification written
 * (its twin: connection/acks.py's last_notification_py). The list read here too:
 * `frames[-1]` and the check's call were ~0.3k of the ~0.4k instructions noting cost a
 * write. */
static PyObject *
last_notification(PyObject *Py_UNUSED(module), PyObject *frames)
{
    if (!PyList_Check(frames)) {
        PyErr_SetString(PyExc_TypeError, "last_notification: frames must be a list");
        return NULL;
    }
    Py_ssize_t size = PyList_GET_SIZE(frames);
    if (size == 0) {
        PyErr_SetString(PyExc_IndexError, "list index out of range");
        return NULL;
    }
    PyObject *last = PyList_GET_ITEM(frames, size - 1);
    if (!PyBytes_Check(last)) {
        PyErr_SetString(PyExc_TypeError, "last_notification: a frame must be bytes");
        return NULL;
    }
    if (notification_head(last))
        return Py_NewRef(last);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"read_ack", (PyCFunction)(void (*)(void))read_ack, METH_FASTCALL,
     "read_ack(text, after, sent) -> (at, last, covered) | None"},
    {"ack_range", (PyCFunction)(void (*)(void))ack_range, METH_FASTCALL,
     "ack_range(window, text) -> (after, at) | () | None"},
    {"is_notification", is_notification, METH_O, "is_notification(frame) -> bool"},
    {"last_notification", last_notification, METH_O,
     "last_notification(frames) -> bytes | None"},
    {"log_mark", log_mark, METH_O, "log_mark(cursor) -> (epoch, ms, n) | None"},
    {"track_users", (PyCFunction)(void (*)(void))track_users, METH_FASTCALL,
     "track_users(items, start, tracked, slots, waiting, seq, last_at, pending, users_target) "
     "-> (stopped, seq, last_at)"},
    {"apply_acks", (PyCFunction)(void (*)(void))apply_acks, METH_FASTCALL,
     "apply_acks(acks, waiting, slots, tracked, base, done, feed_append, user_receipt, "
     "delivered, now) -> int"},
    {"observe_delivery", (PyCFunction)(void (*)(void))observe_delivery, METH_FASTCALL,
     "observe_delivery(published, histograms, bounds, now, label_of[, at, type_at]) -> None"},
    {"ack_taker", (PyCFunction)(void (*)(void))ack_taker, METH_FASTCALL,
     "ack_taker(receipts, fallback, ack_cls) -> take(conn, text) -> bool"},
    {"tracked_items", (PyCFunction)(void (*)(void))tracked_items, METH_FASTCALL,
     "tracked_items(cls, items, drafts, results, accepted_at) -> list | None"},
    {"forget_oldest", (PyCFunction)(void (*)(void))forget_oldest, METH_FASTCALL,
     "forget_oldest(items, slots, ids, waiting, broadcast_at, broadcast_seqs, gone, base, "
     "indexed, max_tracked, horizon, users_target, settled) -> gone"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "gateway._receipts", NULL, 0, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__receipts(void)
{
    if (PyType_Ready(&RecType) < 0)
        return NULL;
    PyObject *made = PyModule_Create(&module);
    if (made != NULL && PyModule_AddObjectRef(made, "Rec", (PyObject *)&RecType) < 0)
        Py_CLEAR(made);
    return made;
}
