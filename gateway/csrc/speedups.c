/* gateway._speedups: the per-item hot paths of the publish pipeline in C.
 *
 * Each function here has a pure-Python twin that stays the reference and the fallback
 * (gateway/speedups.py loads this module unless GATEWAY_NO_SPEEDUPS=1 or the import
 * fails); tests/unit/test_speedups*.py check both give the same bytes and the same errors.
 * See /docs/internals/speedups.md for how to add a function or another C source.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "pbwire.h"
#include "speedups.h"

/* encode_accepted(ids, results) -> bytes | None
 *
 * The serialized PublishBatchResponse whose result i is (ids[i], results[i].cursor,
 * results[i].delivered): gateway/grpc/response.py's twin, for any lengths (multi-byte
 * varints) and any UTF-8 text. None when a value is outside what upb would encode the
 * same way (a string that is not UTF-8-encodable, a `delivered` outside uint32);
 * ValueError when the two sequences differ in length. */
static PyObject *
encode_accepted(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "encode_accepted(ids, results)");
        return NULL;
    }
    PyObject *ids = args[0], *results = args[1];
    PyObject *id_seq = PySequence_Fast(ids, "ids must be a sequence");
    if (id_seq == NULL)
        return NULL;
    PyObject *result_seq = PySequence_Fast(results, "results must be a sequence");
    if (result_seq == NULL) {
        Py_DECREF(id_seq);
        return NULL;
    }
    PyObject *out = NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(id_seq);
    pb_buf buf;
    pb_buf_init(&buf);
    if (n != PySequence_Fast_GET_SIZE(result_seq)) { /* as zip(strict=True) in the twin */
        PyErr_SetString(PyExc_ValueError, "ids and results differ in length");
        goto fail;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *id = PySequence_Fast_GET_ITEM(id_seq, i);
        PyObject *result = PySequence_Fast_GET_ITEM(result_seq, i);
        if (!PyUnicode_Check(id) || !PyTuple_Check(result) || PyTuple_GET_SIZE(result) < 2)
            goto decline;
        PyObject *cursor = PyTuple_GET_ITEM(result, 0);
        PyObject *delivered_obj = PyTuple_GET_ITEM(result, 1);
        if (!PyUnicode_Check(cursor) || !PyLong_Check(delivered_obj))
            goto decline;
        Py_ssize_t id_len, cursor_len;
        const char *id_text = PyUnicode_AsUTF8AndSize(id, &id_len);
        if (id_text == NULL)
            goto decline_error;
        const char *cursor_text = PyUnicode_AsUTF8AndSize(cursor, &cursor_len);
        if (cursor_text == NULL)
            goto decline_error;
        int overflow = 0;
        long long delivered = PyLong_AsLongLongAndOverflow(delivered_obj, &overflow);
        if (delivered == -1 && PyErr_Occurred())
            goto decline_error;
        if (overflow || delivered < 0 || delivered > 0xffffffffLL) /* a uint32 field */
            goto decline;
        /* proto3 leaves out an empty string and a zero */
        size_t inner = 0;
        if (id_len)
            inner += 1 + pb_varint_size((uint64_t)id_len) + (size_t)id_len;
        if (cursor_len)
            inner += 1 + pb_varint_size((uint64_t)cursor_len) + (size_t)cursor_len;
        if (delivered)
            inner += 1 + pb_varint_size((uint64_t)delivered);
        if (pb_put_tag(&buf, 1, PB_LEN) < 0 || pb_put_varint(&buf, inner) < 0)
            goto fail;
        if (id_len && (pb_put_tag(&buf, 1, PB_LEN) < 0 ||
                       pb_put_varint(&buf, (uint64_t)id_len) < 0 ||
                       pb_put_bytes(&buf, id_text, (size_t)id_len) < 0))
            goto fail;
        if (cursor_len && (pb_put_tag(&buf, 2, PB_LEN) < 0 ||
                           pb_put_varint(&buf, (uint64_t)cursor_len) < 0 ||
                           pb_put_bytes(&buf, cursor_text, (size_t)cursor_len) < 0))
            goto fail;
        if (delivered && (pb_put_tag(&buf, 3, PB_VARINT) < 0 ||
                          pb_put_varint(&buf, (uint64_t)delivered) < 0))
            goto fail;
    }
    out = PyBytes_FromStringAndSize(buf.data ? buf.data : "", (Py_ssize_t)buf.len);
    goto done;
decline_error:
    PyErr_Clear(); /* e.g. a lone surrogate: not UTF-8, so not ours to encode */
decline:
    out = Py_NewRef(Py_None);
    goto done;
fail:
    out = NULL;
done:
    pb_buf_free(&buf);
    Py_DECREF(id_seq);
    Py_DECREF(result_seq);
    return out;
}

/* may_hold_huge_number(text) -> bool
 *
 * translate._json_object's screen in one pass: whether `text` holds `e` or `E`, an
 * optional `+`, then three decimal digits, or a run of 309 decimal digits (re's `\d` on
 * str: any Unicode decimal digit, as Py_UNICODE_ISDECIMAL), the only texts in which a
 * JSON number can lie past a double's range. Three re searches cost ~3.7k instructions
 * per ~100-byte data_json. */
/* re's \d on str. Below 256 only 0-9 are decimal digits, and asking the Unicode tables
 * for each character cost ~25 instructions (4.5k per data_json; callgrind). */
static inline int
is_decimal(Py_UCS4 ch)
{
    return ch < 256 ? (ch - '0') < 10 : Py_UNICODE_ISDECIMAL(ch);
}

int
gw_may_hold_huge(PyObject *text)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(text), run = 0;
    if (PyUnicode_KIND(text) == PyUnicode_1BYTE_KIND) {
        /* the usual text: a byte loop (PyUnicode_READ switched on the kind per character) */
        const Py_UCS1 *s = PyUnicode_1BYTE_DATA(text);
        for (Py_ssize_t i = 0; i < n; i++) {
            Py_UCS1 ch = s[i];
            if ((Py_UCS1)(ch - '0') < 10) {
                if (++run >= 309)
                    return 1;
                continue;
            }
            run = 0;
            if (ch != 'e' && ch != 'E')
                continue;
            Py_ssize_t j = i + 1 < n && s[i + 1] == '+' ? i + 2 : i + 1;
            if (j + 3 <= n && (Py_UCS1)(s[j] - '0') < 10 && (Py_UCS1)(s[j + 1] - '0') < 10 &&
                (Py_UCS1)(s[j + 2] - '0') < 10)
                return 1;
        }
        return 0;
    }
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 ch = PyUnicode_READ(kind, data, i);
        if (is_decimal(ch)) {
            if (++run >= 309)
                return 1;
            continue;
        }
        run = 0;
        if (ch != 'e' && ch != 'E')
            continue;
        Py_ssize_t j = i + 1;
        if (j < n && PyUnicode_READ(kind, data, j) == '+')
            j++;
        if (j + 3 <= n && is_decimal(PyUnicode_READ(kind, data, j)) &&
            is_decimal(PyUnicode_READ(kind, data, j + 1)) &&
            is_decimal(PyUnicode_READ(kind, data, j + 2)))
            return 1;
    }
    return 0;
}

static PyObject *
may_hold_huge_number(PyObject *self, PyObject *text)
{
    (void)self;
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "may_hold_huge_number takes a str");
        return NULL;
    }
    return PyBool_FromLong(gw_may_hold_huge(text));
}

/* send_frame(fd, data) -> int
 *
 * One non-blocking send() of `data` on the socket `fd`: the bytes the kernel took (0 on
 * EAGAIN or any error). through.write_each_py calls it only for a uvloop TCP transport with
 * nothing buffered and not closing, and hands whatever was not taken to the transport's
 * writelines, so uvloop's buffering, flow control and error/close handling stay in
 * charge (an error here is seen again, and handled, by uvloop's own write). */
static PyObject *gw_send_frame(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 2 || !PyLong_Check(args[0]) || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "send_frame takes (int fd, bytes data)");
        return NULL;
    }
    long fd = PyLong_AsLong(args[0]);
    if (fd == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (fd < 0 || fd > 0x7fffffffL) {
        return PyLong_FromLong(0);
    }
    const char *data = PyBytes_AS_STRING(args[1]);
    Py_ssize_t size = PyBytes_GET_SIZE(args[1]);
    ssize_t sent;
    do {
        sent = send((int)fd, data, (size_t)size, MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (sent < 0 && errno == EINTR);
    return PyLong_FromSsize_t(sent < 0 ? 0 : sent);
}

static PyMethodDef methods[] = {
    {"may_hold_huge_number", may_hold_huge_number, METH_O,
     "Whether a data_json text can hold a number past a double (translate._json_object)."},
    {"encode_accepted", (PyCFunction)(void (*)(void))encode_accepted, METH_FASTCALL,
     "The serialized PublishBatchResponse of accepted results, or None (see response.py)."},
    {"configure", (PyCFunction)(void (*)(void))gw_configure, METH_FASTCALL,
     "Hand read_batch the caches and classes of gateway/grpc/accept.py (batch_config.c)."},
    {"read_batch", (PyCFunction)(void (*)(void))gw_read_batch, METH_FASTCALL,
     "A PublishBatchRequest's bytes as PublishItems, declined items from fallback(i) (batch.c)."},
    {"configure_encode", (PyCFunction)(void (*)(void))gw_configure_encode, METH_FASTCALL,
     "Hand encode_notification its Python twin, the NotificationItem class, orjson.dumps."},
    {"encode_notification", gw_encode_notification, METH_O,
     "A NotificationItem's JSON as models.encode_notification_py writes it (encode.c)."},
    {"tuple_maker", (PyCFunction)(void (*)(void))gw_tuple_maker, METH_FASTCALL,
     "A NamedTuple maker: models.tuple_maker_py's in C (maker.c)."},
    {"configure_json", (PyCFunction)(void (*)(void))gw_configure_json, METH_FASTCALL,
     "Hand read_batch pydantic_core.from_json: data_json parsed without a Python call."},
    {"configure_fingerprint", (PyCFunction)(void (*)(void))gw_configure_fingerprint,
     METH_FASTCALL, "Hand local_fingerprint its twin, the target classes and the cut."},
    {"local_fingerprint", (PyCFunction)(void (*)(void))gw_local_fingerprint, METH_FASTCALL,
     "log.base.local_fingerprint_py's value, in C (fingerprint.c)."},
    {"configure_frame", (PyCFunction)(void (*)(void))gw_configure_frame, METH_FASTCALL,
     "Hand notification_frame its twin and the event's fixed parts."},
    {"notification_frame", (PyCFunction)(void (*)(void))gw_notification_frame, METH_FASTCALL,
     "A notification's WebSocket frame, as outgoing._notification_frame_py (frame.c)."},
    {"send_frame", (PyCFunction)(void (*)(void))gw_send_frame, METH_FASTCALL,
     "One non-blocking send() of a frame on a socket: the bytes taken (0: none)."},
    {"configure_write_each", (PyCFunction)(void (*)(void))gw_configure_write_each,
     METH_FASTCALL, "Hand write_each the Outbox class (its slots) and direct.direct_fd."},
    {"write_each", (PyCFunction)(void (*)(void))gw_write_each, METH_FASTCALL,
     "A write-through fan-out, as connection/through.py's write_each_py (fanout.c)."},
    {"canonical_json", gw_canonical_json_py, METH_O,
     "data_json's bytes with whitespace left out when that is their own encoding, else None."},
    {"first_then", (PyCFunction)(void (*)(void))gw_first_then, METH_FASTCALL,
     "ClientOps' received: rest(conn, text) unless first took it (firstthen.c)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "gateway._speedups",
    .m_doc = "The publish pipeline's per-item hot paths in C; gateway/speedups.py loads it.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&module);
}
