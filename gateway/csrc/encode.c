/* encode_notification: a NotificationItem as the compact JSON object clients receive.
 *
 * The twin of gateway/models.py's encode_notification_py (a dict of seven fields, the
 * created_at text from _IsoUtc, orjson.dumps): the same bytes, with the outer object
 * and its strings written here and only `data` handed to orjson. Anything else (a
 * pydantic Notification, a created_at that is not an aware UTC datetime, a string
 * with a lone surrogate, data orjson refuses) goes to the Python twin, which is also
 * what decides the bytes there. The encode cost ~8.9k instructions per notification.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>

#include "pbwire.h"
#include "speedups.h"

static struct {
    PyObject *fallback;          /* encode_notification_py */
    PyObject *notification_item; /* the NotificationItem class */
    PyObject *dumps;             /* orjson.dumps */
    int ready;
} enc;

PyObject *
gw_configure_encode(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 3 || !PyType_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "configure_encode(fallback, notification_item, dumps)");
        return NULL;
    }
    if (PyDateTimeAPI == NULL) {
        PyDateTime_IMPORT;
        if (PyDateTimeAPI == NULL)
            return NULL;
    }
    Py_XSETREF(enc.fallback, Py_NewRef(args[0]));
    Py_XSETREF(enc.notification_item, Py_NewRef(args[1]));
    Py_XSETREF(enc.dumps, Py_NewRef(args[2]));
    enc.ready = 1;
    Py_RETURN_NONE;
}

/* `"key":` then the JSON string of `value` as orjson writes it: `"` and `\` escaped,
 * the control characters as \b \t \n \f \r or \u00xx, everything else as its UTF-8.
 * -1 with an error set; 0 with none when it is not a str or not UTF-8 (the twin then). */
static int
put_string(pb_buf *out, const char *key, PyObject *value)
{
    static const char hex[] = "0123456789abcdef";
    if (!PyUnicode_CheckExact(value))
        return 0;
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(value, &n);
    if (s == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError))
            return -1;
        PyErr_Clear(); /* a lone surrogate: orjson refuses it, the twin decides */
        return 0;
    }
    size_t key_len = key == NULL ? 0 : strlen(key);
    /* at most 6 bytes per input byte (\u00xx), the key and the quotes */
    if ((size_t)n > (PY_SSIZE_T_MAX - 64) / 6) {
        PyErr_NoMemory();
        return -1;
    }
    if (pb_reserve(out, key_len + 3 + 6 * (size_t)n) < 0)
        return -1;
    char *w = out->data + out->len;
    if (key_len) {
        memcpy(w, key, key_len);
        w += key_len;
    }
    *w++ = '"';
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *w++ = (char)c;
            continue;
        }
        *w++ = '\\';
        switch (c) {
        case '"': *w++ = '"'; break;
        case '\\': *w++ = '\\'; break;
        case '\b': *w++ = 'b'; break;
        case '\t': *w++ = 't'; break;
        case '\n': *w++ = 'n'; break;
        case '\f': *w++ = 'f'; break;
        case '\r': *w++ = 'r'; break;
        default:
            *w++ = 'u';
            *w++ = '0';
            *w++ = '0';
            *w++ = hex[c >> 4];
            *w++ = hex[c & 15];
        }
    }
    *w++ = '"';
    out->len = (size_t)(w - out->data);
    return 1;
}

/* The JSON of a value inside `data`, as orjson writes it, for the types a JSON parse
 * makes: 1 written, 0 (no error) for anything this does not write the same way for sure
 * (a float that repr writes with an exponent, NaN, an integer past 64 bits, a non-str
 * key, another type, nesting deeper than 64), -1 with an error. */
static int
put_value(pb_buf *out, PyObject *value, int depth)
{
    if (depth > 64)
        return 0;
    if (PyUnicode_CheckExact(value))
        return put_string(out, NULL, value);
    if (value == Py_None)
        return pb_put_bytes(out, "null", 4) < 0 ? -1 : 1;
    if (value == Py_True)
        return pb_put_bytes(out, "true", 4) < 0 ? -1 : 1;
    if (value == Py_False)
        return pb_put_bytes(out, "false", 5) < 0 ? -1 : 1;
    if (PyLong_CheckExact(value)) {
        int overflow;
        long long n = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (overflow)
            return 0;
        if (n == -1 && PyErr_Occurred())
            return -1;
        /* by hand: snprintf cost ~1.7k instructions a number (callgrind) */
        char digits[24];
        char *end = digits + sizeof digits, *w = end;
        unsigned long long u = n < 0 ? 0ULL - (unsigned long long)n : (unsigned long long)n;
        do {
            *--w = (char)('0' + u % 10);
            u /= 10;
        } while (u);
        if (n < 0)
            *--w = '-';
        return pb_put_bytes(out, w, (size_t)(end - w)) < 0 ? -1 : 1;
    }
    /* A float: orjson writes the whole of data. The shortest repr (dtoa) cost ~6k
     * instructions a number, more than orjson's call (~4k). */
    if (PyList_CheckExact(value)) {
        if (pb_put_bytes(out, "[", 1) < 0)
            return -1;
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(value); i++) {
            if (i && pb_put_bytes(out, ",", 1) < 0)
                return -1;
            int r = put_value(out, PyList_GET_ITEM(value, i), depth + 1);
            if (r <= 0)
                return r;
        }
        return pb_put_bytes(out, "]", 1) < 0 ? -1 : 1;
    }
    if (PyDict_CheckExact(value)) {
        if (pb_put_bytes(out, "{", 1) < 0)
            return -1;
        Py_ssize_t pos = 0;
        PyObject *k, *v;
        int first = 1;
        while (PyDict_Next(value, &pos, &k, &v)) {
            if (!first && pb_put_bytes(out, ",", 1) < 0)
                return -1;
            first = 0;
            int r = put_string(out, NULL, k);
            if (r <= 0)
                return r;
            if (pb_put_bytes(out, ":", 1) < 0)
                return -1;
            /* the borrowed value stays alive: nothing here runs Python code */
            r = put_value(out, v, depth + 1);
            if (r <= 0)
                return r;
        }
        return pb_put_bytes(out, "}", 1) < 0 ? -1 : 1;
    }
    return 0;
}

/* The JSON bytes, or NULL with no error when the twin should encode it. */
static PyObject *
encode(PyObject *n)
{
    if ((PyObject *)Py_TYPE(n) != enc.notification_item || PyTuple_GET_SIZE(n) < 7)
        return NULL;
    PyObject *priority = PyTuple_GET_ITEM(n, 5);
    PyObject *created_at = PyTuple_GET_ITEM(n, 6);
    if (!PyDateTime_CheckExact(created_at))
        return NULL;
    PyObject *tz = PyDateTime_DATE_GET_TZINFO(created_at);
    if (tz != PyDateTime_TimeZone_UTC)
        return NULL;
    PyObject *result = NULL, *data = NULL;
    pb_buf out;
    pb_buf_init(&out);
    if (put_string(&out, "{\"id\":", PyTuple_GET_ITEM(n, 0)) <= 0 ||
        put_string(&out, ",\"type\":", PyTuple_GET_ITEM(n, 1)) <= 0 ||
        put_string(&out, ",\"title\":", PyTuple_GET_ITEM(n, 2)) <= 0 ||
        put_string(&out, ",\"body\":", PyTuple_GET_ITEM(n, 3)) <= 0 ||
        pb_put_bytes(&out, ",\"data\":", 8) < 0)
        goto done;
    /* data: written here when it is what a JSON parse makes, else by orjson (whose call
     * alone cost ~4k instructions) */
    size_t mark = out.len;
    PyObject *carried = PyTuple_GET_SIZE(n) > 9 ? PyTuple_GET_ITEM(n, 9) : Py_None;
    int written;
    if (carried != Py_None) { /* data_json, already its own encoding (canon.c) */
        if (!PyBytes_CheckExact(carried) || PyTuple_GET_ITEM(n, 4) != Py_None)
            goto done;
        written = pb_put_bytes(&out, PyBytes_AS_STRING(carried), (size_t)PyBytes_GET_SIZE(carried)) < 0 ? -1 : 1;
    } else {
        written = put_value(&out, PyTuple_GET_ITEM(n, 4), 0);
    }
    if (written < 0)
        goto done;
    if (written == 0) {
        out.len = mark;
        data = PyObject_CallOneArg(enc.dumps, PyTuple_GET_ITEM(n, 4));
        if (data == NULL) {
            PyErr_Clear(); /* e.g. an integer past 64 bits: the twin's pydantic-core */
            goto done;
        }
        if (pb_put_bytes(&out, PyBytes_AS_STRING(data), (size_t)PyBytes_GET_SIZE(data)) < 0)
            goto done;
    }
    /* None or "": "normal" (the twin's `priority or "normal"`) */
    if (priority == Py_None || (PyUnicode_CheckExact(priority) && PyUnicode_GET_LENGTH(priority) == 0)) {
        if (pb_put_bytes(&out, ",\"priority\":\"normal\"", 20) < 0)
            goto done;
    } else if (put_string(&out, ",\"priority\":", priority) <= 0) {
        goto done;
    }
    /* _IsoUtc: 2026-05-06T07:08:09.123Z (isoformat's four-digit year), by hand */
    static const char tail[] = ",\"created_at\":\"YYYY-MM-DDTHH:MM:SS.mmmZ\"}";
    char stamp[sizeof tail];
    memcpy(stamp, tail, sizeof tail);
    char *w = stamp + 15;
    int year = PyDateTime_GET_YEAR(created_at);
    int fields[6] = {PyDateTime_GET_MONTH(created_at), PyDateTime_GET_DAY(created_at),
                     PyDateTime_DATE_GET_HOUR(created_at), PyDateTime_DATE_GET_MINUTE(created_at),
                     PyDateTime_DATE_GET_SECOND(created_at),
                     PyDateTime_DATE_GET_MICROSECOND(created_at) / 1000};
    w[0] = (char)('0' + year / 1000);
    w[1] = (char)('0' + year / 100 % 10);
    w[2] = (char)('0' + year / 10 % 10);
    w[3] = (char)('0' + year % 10);
    static const int at[5] = {5, 8, 11, 14, 17}; /* MM DD HH MM SS */
    for (int i = 0; i < 5; i++) {
        w[at[i]] = (char)('0' + fields[i] / 10);
        w[at[i] + 1] = (char)('0' + fields[i] % 10);
    }
    w[20] = (char)('0' + fields[5] / 100);
    w[21] = (char)('0' + fields[5] / 10 % 10);
    w[22] = (char)('0' + fields[5] % 10);
    if (pb_put_bytes(&out, stamp, sizeof tail - 1) < 0)
        goto done;
    result = PyBytes_FromStringAndSize(out.data, (Py_ssize_t)out.len);
done: /* NULL without an error: the twin encodes it */
    pb_buf_free(&out);
    Py_XDECREF(data);
    return result;
}

PyObject *
gw_encode_notification(PyObject *self, PyObject *n)
{
    (void)self;
    if (!enc.ready) {
        PyErr_SetString(PyExc_RuntimeError, "encode_notification before configure_encode");
        return NULL;
    }
    PyObject *body = encode(n);
    if (body != NULL || PyErr_Occurred())
        return body;
    return PyObject_CallOneArg(enc.fallback, n);
}
