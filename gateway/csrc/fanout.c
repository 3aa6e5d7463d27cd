/* write_each: a write-through fan-out, the twin of gateway/connection/through.py's
 * write_each_py, rule for rule.
 *
 * For each connection: a live WebSocket connection (`_ws`, no `_backlog`, not `held`, not
 * `closed`, nothing `_pending`, its `_sink` set) gets the item's frame at once: a closing
 * sink is discarded (`_discard()`); one holding more than its context's `limit` unsent
 * bytes is too slow (`_too_slow()`, after the loop); one holding anything, or without a
 * direct fd, gets `writelines((ws,))`; otherwise one non-blocking send() and what the kernel
 * did not take to `writelines`. `_note([ws])` when `_acked` is not None. Any other
 * connection is sent the item (`send(item)`).
 *
 * In Python the loop cost ~2.4k instructions per connection (attribute loads, bound-method
 * calls; scripts/profile-steady), here ~0.6k: the Outbox's slots are read at their
 * offsets, resolved once by configure_write_each from the class's member descriptors. A
 * connection of a class that hides any of those names (a property, a plain attribute) is
 * read through getattr, so what it sees is what Python would.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "fanout.h"
#include "slots.h"
#include "speedups.h"

/* Whether `tp`'s instances may be read at the slots' offsets: a subclass of the Outbox
 * whose every name still finds the Outbox's descriptor (checked once per type). */
static int
known_type(PyTypeObject *tp)
{
    for (int i = 0; i < fanout.nknown; i++) {
        if (fanout.known[i] == tp)
            return 1;
    }
    if (!PyType_IsSubtype(tp, fanout.outbox))
        return 0;
    for (int i = 0; i < NSLOTS; i++) {
        /* a data descriptor of the type wins over an instance __dict__, so the member
         * found here is what getattr reads */
        if (_PyType_Lookup(tp, fanout.names[i]) != fanout.descrs[i])
            return 0;
    }
    if (fanout.nknown < KNOWN_TYPES)
        fanout.known[fanout.nknown++] = (PyTypeObject *)Py_NewRef((PyObject *)tp);
    return 1;
}

/* conn.<slot i>, a new reference (NULL with the error getattr raises). */
static inline PyObject *
get(PyObject *conn, int fast, int i)
{
    /* not slot_get with -1 for a stranger: that test of the offset cost ~16 instructions
     * a connection (profile-steady); `fast` already says every offset is its slot's */
    if (fast) {
        PyObject *value = slot_value(conn, fanout.offsets[i]);
        if (value != NULL)
            return Py_NewRef(value);
    }
    return PyObject_GetAttr(conn, fanout.names[i]); /* raises as Python would when unset */
}

/* Python's truth of a slot's value, -1 on error (the value is consumed). */
static inline int
truth(PyObject *value)
{
    if (value == NULL)
        return -1;
    int t = value == Py_True ? 1 : value == Py_False || value == Py_None ? 0 : PyObject_IsTrue(value);
    Py_DECREF(value);
    return t;
}

/* The sink's `is_closing` and `get_write_buffer_size`, looked up once per sink type.
 *
 * `PyObject_VectorcallMethod` finds the method on every call (~180 instructions each of
 * the two calls per connection). The same function is called here as long as the type is
 * unchanged (its version tag), its instances have no __dict__ that could shadow it, and it
 * is a method descriptor (what `_PyObject_GetMethod` calls unbound): the call is then the
 * one Python makes. Any other sink takes the general call. */
static struct {
    PyTypeObject *type; /* strong references */
    unsigned int version;
    PyObject *is_closing;
    PyObject *buffer_size;
} sinks;

static int
method_like(PyObject *found)
{
    return found != NULL && PyType_HasFeature(Py_TYPE(found), Py_TPFLAGS_METHOD_DESCRIPTOR);
}

/* Whether sink's methods are the cached ones (looked up now if its type is new). */
static int
sink_methods(PyObject *sink)
{
    PyTypeObject *tp = Py_TYPE(sink);
    if (tp == sinks.type && tp->tp_version_tag == sinks.version &&
        PyType_HasFeature(tp, Py_TPFLAGS_VALID_VERSION_TAG))
        return 1;
    if (tp->tp_dictoffset != 0 || !PyType_HasFeature(tp, Py_TPFLAGS_VALID_VERSION_TAG))
        return 0;
    PyObject *is_closing = _PyType_Lookup(tp, fanout.s_is_closing);
    PyObject *buffer_size = _PyType_Lookup(tp, fanout.s_get_write_buffer_size);
    /* a lookup may assign the version tag: read it after */
    if (!method_like(is_closing) || !method_like(buffer_size) ||
        !PyType_HasFeature(tp, Py_TPFLAGS_VALID_VERSION_TAG))
        return 0;
    Py_XSETREF(sinks.is_closing, Py_NewRef(is_closing));
    Py_XSETREF(sinks.buffer_size, Py_NewRef(buffer_size));
    Py_XSETREF(sinks.type, (PyTypeObject *)Py_NewRef((PyObject *)tp));
    sinks.version = tp->tp_version_tag;
    return 1;
}

static inline PyObject *
sink_call(PyObject *sink, int cached, PyObject *method, PyObject *name)
{
    if (cached) {
        PyObject *argv[1] = {sink};
        return PyObject_Vectorcall(method, argv, 1, NULL);
    }
    PyObject *argv[1] = {sink};
    return PyObject_VectorcallMethod(name, argv, 1 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
}

static inline PyObject *
call0(PyObject *obj, PyObject *name)
{
    PyObject *argv[1] = {obj};
    return PyObject_VectorcallMethod(name, argv, 1 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
}

static inline PyObject *
call1(PyObject *obj, PyObject *name, PyObject *arg)
{
    PyObject *argv[2] = {obj, arg};
    return PyObject_VectorcallMethod(name, argv, 2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
}

/* Calls that return None: 0, or -1 with their error. */
static inline int
done(PyObject *result)
{
    if (result == NULL)
        return -1;
    Py_DECREF(result);
    return 0;
}

static int
writelines(PyObject *sink, PyObject *frame)
{
    PyObject *one = PyTuple_Pack(1, frame);
    if (one == NULL)
        return -1;
    int rc = done(call1(sink, fanout.s_writelines, one));
    Py_DECREF(one);
    return rc;
}

/* The limit of a connection's context: its `limit` attribute (the context is one frozen
 * object every connection shares, so it is read once per context seen in a call). */
typedef struct {
    PyObject *context; /* strong references, released at the end of the call */
    PyObject *limit;
    long max; /* the limit as a C long when it is an int within one, else -1 */
} limit_cache;

static PyObject *
limit_of(limit_cache *cache, PyObject *context)
{
    if (cache->context != context) {
        PyObject *limit = PyObject_GetAttr(context, fanout.s_limit);
        if (limit == NULL)
            return NULL;
        Py_XSETREF(cache->limit, limit);
        Py_XSETREF(cache->context, Py_NewRef(context));
        cache->max = PyLong_CheckExact(limit) ? PyLong_AsLong(limit) : -1;
        if (cache->max == -1 && PyErr_Occurred())
            PyErr_Clear(); /* past a long: compared by Python */
    }
    return cache->limit;
}

/* One connection's write-through (the twin's loop body): 0, or -1 with an error. */
static int
write_one(PyObject *conn, PyObject *item, PyObject *ws, Py_ssize_t size, PyObject *slow,
          limit_cache *limits)
{
    int fast = known_type(Py_TYPE(conn));
    int live = truth(get(conn, fast, WS));
    if (live > 0) {
        PyObject *backlog = get(conn, fast, BACKLOG);
        if (backlog == NULL)
            return -1;
        live = backlog == Py_None;
        Py_DECREF(backlog);
    }
    if (live > 0) {
        int held = truth(get(conn, fast, HELD));
        live = held < 0 ? -1 : !held;
    }
    if (live > 0) {
        int closed = truth(get(conn, fast, CLOSED));
        live = closed < 0 ? -1 : !closed;
    }
    if (live > 0) {
        int pending = truth(get(conn, fast, PENDING));
        live = pending < 0 ? -1 : !pending;
    }
    PyObject *sink = NULL;
    if (live > 0) {
        sink = get(conn, fast, SINK);
        if (sink == NULL)
            return -1;
        if (sink == Py_None) {
            Py_DECREF(sink);
            sink = NULL;
            live = 0;
        }
    }
    if (live < 0)
        return -1;
    if (!live)
        return done(call1(conn, fanout.s_send, item));

    int rc = -1;
    PyObject *context = NULL;
    int cached = sink_methods(sink);
    int closing = truth(sink_call(sink, cached, sinks.is_closing, fanout.s_is_closing));
    if (closing < 0)
        goto out;
    if (closing) {
        rc = done(call0(conn, fanout.s_discard));
        goto out;
    }
    PyObject *buffered =
        sink_call(sink, cached, sinks.buffer_size, fanout.s_get_write_buffer_size);
    if (buffered == NULL)
        goto out;
    context = get(conn, fast, CONTEXT);
    PyObject *limit = context == NULL ? NULL : limit_of(limits, context);
    if (limit == NULL) {
        Py_DECREF(buffered);
        goto out;
    }
    int over, any;
    long small = PyLong_CheckExact(buffered) ? PyLong_AsLong(buffered) : -1;
    if (small >= 0 && small <= limits->max) { /* ints within a long, as they always are */
        over = 0;
        any = small != 0;
        Py_DECREF(buffered);
    }
    else {
        PyErr_Clear(); /* an overflow of the look above: Python's comparison decides */
        over = PyObject_RichCompareBool(buffered, limit, Py_GT);
        if (over != 0) {
            Py_DECREF(buffered);
            if (over > 0)
                rc = PyList_Append(slow, conn); /* closed after the loop */
            goto out;
        }
        any = PyObject_IsTrue(buffered);
        Py_DECREF(buffered);
        if (any < 0)
            goto out;
    }
    (void)over;
    long fd = -1;
    if (!any) {
        PyObject *fd_obj = get(conn, fast, FD);
        if (fd_obj == NULL)
            goto out;
        fd = PyLong_AsLong(fd_obj);
        Py_DECREF(fd_obj);
        if (fd == -1 && PyErr_Occurred())
            goto out;
    }
    if (any || fd == -1) {
        if (writelines(sink, ws) < 0)
            goto out;
    }
    else {
        if (fd == -2) { /* direct.UNKNOWN_FD: looked up on the first direct write */
            PyObject *found = PyObject_CallOneArg(fanout.direct_fd, sink);
            if (found == NULL)
                goto out;
            fd = PyLong_AsLong(found);
            if (fd == -1 && PyErr_Occurred()) {
                Py_DECREF(found);
                goto out;
            }
            int set = PyObject_SetAttr(conn, fanout.names[FD], found);
            Py_DECREF(found);
            if (set < 0)
                goto out;
        }
        ssize_t sent = 0;
        if (fd >= 0 && fd <= 0x7fffffffL) {
            do {
                sent = send((int)fd, PyBytes_AS_STRING(ws), (size_t)size,
                            MSG_DONTWAIT | MSG_NOSIGNAL);
            } while (sent < 0 && errno == EINTR);
            if (sent < 0)
                sent = 0;
        }
        if (sent < size) {
            PyObject *rest = sent ? PyBytes_FromStringAndSize(PyBytes_AS_STRING(ws) + sent,
                                                              size - sent)
                                  : Py_NewRef(ws);
            if (rest == NULL)
                goto out;
            int written = writelines(sink, rest);
            Py_DECREF(rest);
            if (written < 0)
                goto out;
        }
    }
    PyObject *acked = get(conn, fast, ACKED);
    if (acked == NULL)
        goto out;
    int receipts = acked != Py_None;
    Py_DECREF(acked);
    if (receipts) { /* receipts: once per write, as a flush notes */
        PyObject *frames = PyList_New(1);
        if (frames == NULL)
            goto out;
        PyList_SET_ITEM(frames, 0, Py_NewRef(ws));
        int noted = done(call1(conn, fanout.s_note, frames));
        Py_DECREF(frames);
        if (noted < 0)
            goto out;
    }
    rc = 0;
out:
    Py_XDECREF(context);
    Py_DECREF(sink);
    return rc;
}

/* write_each(conns, item) -> None */
PyObject *
gw_write_each(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "write_each(conns, item)");
        return NULL;
    }
    if (!fanout.ready) {
        PyErr_SetString(PyExc_RuntimeError, "write_each: configure_write_each first");
        return NULL;
    }
    PyObject *item = args[1];
    PyObject *ws = PyObject_GetAttr(item, fanout.s_ws);
    if (ws == NULL)
        return NULL;
    if (!PyBytes_Check(ws)) {
        PyErr_Format(PyExc_TypeError, "item.ws must be bytes, not %.100s", Py_TYPE(ws)->tp_name);
        Py_DECREF(ws);
        return NULL;
    }
    Py_ssize_t size = PyBytes_GET_SIZE(ws);
    PyObject *slow = PyList_New(0);
    PyObject *iter = slow == NULL ? NULL : PyObject_GetIter(args[0]);
    limit_cache limits = {NULL, NULL, -1};
    PyObject *result = NULL;
    if (iter == NULL)
        goto out;
    PyObject *conn;
    while ((conn = PyIter_Next(iter)) != NULL) {
        int rc = write_one(conn, item, ws, size, slow, &limits);
        Py_DECREF(conn);
        if (rc < 0)
            goto out;
    }
    if (PyErr_Occurred())
        goto out;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(slow); i++) {
        if (done(call0(PyList_GET_ITEM(slow, i), fanout.s_too_slow)) < 0)
            goto out;
    }
    result = Py_NewRef(Py_None);
out:
    Py_XDECREF(limits.limit);
    Py_XDECREF(limits.context);
    Py_XDECREF(iter);
    Py_XDECREF(slow);
    Py_DECREF(ws);
    return result;
}
