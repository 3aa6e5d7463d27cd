/* gateway._httphead: the common WebSocket connect's request head and accept key in C.
 *
 * A connect's head was ~48k instructions of Python (splitting five header lines into a
 * dict, the request line, the target's RFC 3986 check) and its Sec-WebSocket-Accept ~13k
 * (a regex, hashlib's SHA-1 through OpenSSL's EVP, base64): most of what nchan does in
 * C. Both functions here answer only the plain, common form and return None for anything
 * else, which then takes the pure-Python path as before (gateway/websocket/head.py,
 * handshake.py), so no rule of the hostile-input table is judged here: llhttp still reads
 * every byte of every head. Their Python twins (`quick_split`, `quick_accept`) are the
 * reference; tests/unit/test_httphead.py checks both give the same answer for generated
 * heads and keys, common and hostile.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

/* Byte classes, filled once at import: a table read per byte, not a strchr. */
enum { TCHAR = 1, TARGET = 2, HEX = 4, VALUE = 8, BASE64 = 16 };
static unsigned char classes[256];

static void
fill_classes(void)
{
    const char *alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    for (const char *c = alnum; *c; c++)
        classes[(unsigned char)*c] |= TCHAR | TARGET | BASE64;
    for (const char *c = "!#$%&'*+-.^_`|~"; *c; c++) /* RFC 9110 tchar */
        classes[(unsigned char)*c] |= TCHAR;
    for (const char *c = "-._~!$&'()*+,;=:@/?%"; *c; c++) /* RFC 3986 pchar, '/', '?' */
        classes[(unsigned char)*c] |= TARGET;
    for (const char *c = "0123456789abcdefABCDEF"; *c; c++)
        classes[(unsigned char)*c] |= HEX;
    for (int c = 0x20; c <= 0x7e; c++) /* a plain header value: printable ASCII, SP, HTAB */
        classes[c] |= VALUE;
    classes['\t'] |= VALUE;
    classes['+'] |= BASE64;
    classes['/'] |= BASE64;
}

#define is_tchar(c) (classes[(c)] & TCHAR)
#define is_target_byte(c) (classes[(c)] & TARGET)
#define is_hex(c) (classes[(c)] & HEX)

/* Header names and values every connect sends, made once: a lookup, not a new string. */
static const char *const KNOWN[] = {
    "host", "upgrade", "connection", "sec-websocket-key", "sec-websocket-version",
    "sec-websocket-protocol", "sec-websocket-extensions", "origin", "user-agent", "accept",
    "accept-encoding", "accept-language", "cache-control", "pragma", "cookie",
    "authorization", "last-event-id", "websocket", "Upgrade", "13", "keep-alive, Upgrade",
    "no-cache", "permessage-deflate; client_max_window_bits", "gzip, deflate, br", "*/*",
};
#define N_KNOWN (sizeof(KNOWN) / sizeof(KNOWN[0]))
static PyObject *known[N_KNOWN];
static PyObject *get_bytes, *version_11, *version_10, *known_content_length,
    *known_transfer_encoding;

/* A str of the ASCII bytes `text`: the made-once one if it is known. */
static PyObject *
ascii_str(const char *text, Py_ssize_t len)
{
    for (size_t i = 0; i < N_KNOWN; i++) {
        if ((Py_ssize_t)PyUnicode_GET_LENGTH(known[i]) == len &&
            memcmp(PyUnicode_1BYTE_DATA(known[i]), text, (size_t)len) == 0) {
            Py_INCREF(known[i]);
            return known[i];
        }
    }
    PyObject *str = PyUnicode_New(len, 127);
    if (str != NULL)
        memcpy(PyUnicode_1BYTE_DATA(str), text, (size_t)len);
    return str;
}

/* Adds one header to `headers` (name lower-cased, a repeated one joined with ", "), as
 * head.py's `_fields` does. -1 with an exception set on failure. */
static int
add_header(PyObject *headers, const unsigned char *name, Py_ssize_t name_len,
           const unsigned char *value, Py_ssize_t value_len)
{
    char lower[256];
    if (name_len > (Py_ssize_t)sizeof(lower))
        return 1; /* declined: the general path reads it */
    for (Py_ssize_t i = 0; i < name_len; i++) {
        unsigned char c = name[i];
        lower[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    PyObject *key = ascii_str(lower, name_len);
    if (key == NULL)
        return -1;
    PyObject *val = ascii_str((const char *)value, value_len);
    if (val == NULL) {
        Py_DECREF(key);
        return -1;
    }
    PyObject *present = PyDict_GetItemWithError(headers, key);
    if (present != NULL) {
        PyObject *joined = PyUnicode_FromFormat("%U, %U", present, val);
        Py_DECREF(val);
        if (joined == NULL) {
            Py_DECREF(key);
            return -1;
        }
        val = joined;
    } else if (PyErr_Occurred()) {
        Py_DECREF(key);
        Py_DECREF(val);
        return -1;
    }
    int rc = PyDict_SetItem(headers, key, val);
    Py_DECREF(key);
    Py_DECREF(val);
    return rc;
}

/* split_head(data: bytes, limit: int, head: type[Head]) -> Head | None
 *
 * The `Head` of `data`, the first read of a connection, when it holds a whole head of
 * the plain form within its first `limit` bytes: `GET SP /target SP HTTP/1.x` (the target
 * of RFC 3986's bytes, a '%' only before two hex digits), then `name: value` lines whose
 * names are tokens (none over 256 bytes) and whose values are printable ASCII, SP or
 * HTAB, with one Host line (none or one on HTTP/1.0), and neither Content-Length nor
 * Transfer-Encoding. The same `Head` as head.py's general path gives for it; None for
 * any other `data` (then that path reads it). `head` is the `Head` class (a tuple of six
 * fields): the result is made as one, with no Python call. */
static PyObject *
split_head(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 3 || !PyType_Check(args[2]) ||
        !PyType_IsSubtype((PyTypeObject *)args[2], &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "split_head(data, limit, head_class)");
        return NULL;
    }
    if (!PyBytes_Check(args[0]))
        Py_RETURN_NONE;
    Py_ssize_t limit = PyLong_AsSsize_t(args[1]);
    if (limit == -1 && PyErr_Occurred())
        return NULL;
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    Py_ssize_t size = PyBytes_GET_SIZE(args[0]);
    if (limit > size)
        limit = size;

    /* the head's end: the first CRLF CRLF wholly within `limit` */
    Py_ssize_t end = -1;
    for (const unsigned char *r = p; limit - (r - p) >= 4;) {
        r = memchr(r, '\r', (size_t)(limit - (r - p) - 3));
        if (r == NULL)
            break;
        if (r[1] == '\n' && r[2] == '\r' && r[3] == '\n') {
            end = r - p;
            break;
        }
        r++;
    }
    if (end < 0)
        Py_RETURN_NONE;
    const unsigned char *stop = p + end;

    /* the request line */
    if (end < 4 || memcmp(p, "GET ", 4) != 0)
        Py_RETURN_NONE;
    const unsigned char *eol = memchr(p, '\r', (size_t)end);
    if (eol == NULL)
        eol = stop;
    const unsigned char *s = p + 4;
    const unsigned char *target = s;
    if (s >= eol || *s != '/')
        Py_RETURN_NONE;
    const unsigned char *query = NULL;
    while (s < eol && *s != ' ') {
        unsigned char c = *s;
        if (!is_target_byte(c))
            Py_RETURN_NONE;
        if (c == '%' && (eol - s < 3 || !is_hex(s[1]) || !is_hex(s[2])))
            Py_RETURN_NONE;
        if (c == '?' && query == NULL)
            query = s;
        s++;
    }
    const unsigned char *target_end = s;
    if (eol - s != 9 || memcmp(s, " HTTP/1.", 8) != 0 || (s[8] != '1' && s[8] != '0'))
        Py_RETURN_NONE;
    int http11 = s[8] == '1';
    /* a line ends in CRLF only where another follows (a head's last CRLF is its end's) */
    if (eol < stop && (stop - eol <= 2 || eol[1] != '\n'))
        Py_RETURN_NONE;

    PyObject *headers = PyDict_New();
    if (headers == NULL)
        return NULL;
    long hosts = 0;
    const unsigned char *line = eol < stop ? eol + 2 : stop;
    while (line < stop) {
        const unsigned char *next = memchr(line, '\r', (size_t)(stop - line));
        const unsigned char *line_end = next == NULL ? stop : next;
        if (next != NULL && (stop - next <= 2 || next[1] != '\n'))
            goto decline;
        const unsigned char *c = line;
        while (c < line_end && is_tchar(*c))
            c++;
        if (c == line || c >= line_end || *c != ':')
            goto decline;
        Py_ssize_t name_len = c - line;
        const unsigned char *v = c + 1;
        for (const unsigned char *q = v; q < line_end; q++) {
            if (!(classes[*q] & VALUE))
                goto decline;
        }
        const unsigned char *v_end = line_end;
        while (v < v_end && (*v == ' ' || *v == '\t'))
            v++;
        while (v_end > v && (v_end[-1] == ' ' || v_end[-1] == '\t'))
            v_end--;
        int rc = add_header(headers, line, name_len, v, v_end - v);
        if (rc < 0) {
            Py_DECREF(headers);
            return NULL;
        }
        if (rc > 0)
            goto decline;
        if (name_len == 4 && (line[0] | 0x20) == 'h' && (line[1] | 0x20) == 'o' &&
            (line[2] | 0x20) == 's' && (line[3] | 0x20) == 't')
            hosts++;
        line = next == NULL ? stop : next + 2;
    }
    if (hosts > 1 || (hosts == 0 && http11))
        goto decline; /* the general path answers 400 */
    /* the framing headers: llhttp judges them (`_plain` in head.py says why) */
    if (PyDict_GetItemWithError(headers, known_content_length) != NULL ||
        PyDict_GetItemWithError(headers, known_transfer_encoding) != NULL || PyErr_Occurred())
        goto decline;

    const unsigned char *path_end = query == NULL ? target_end : query;
    const unsigned char *query_start = query == NULL ? target_end : query + 1;
    PyTypeObject *cls = (PyTypeObject *)args[2];
    PyObject *head = cls->tp_alloc(cls, 6);
    if (head == NULL)
        goto fail;
    PyObject *version = http11 ? version_11 : version_10;
    Py_INCREF(get_bytes);
    Py_INCREF(version);
    PyTuple_SET_ITEM(head, 0, get_bytes);
    PyTuple_SET_ITEM(head, 1, version);
    PyTuple_SET_ITEM(head, 4, headers); /* the head owns it from here */
    PyObject *path = PyBytes_FromStringAndSize((const char *)target, path_end - target);
    PyObject *query_bytes =
        PyBytes_FromStringAndSize((const char *)query_start, target_end - query_start);
    PyObject *rest = PyBytes_FromStringAndSize((const char *)stop + 4, size - end - 4);
    /* set even when NULL: the head's dealloc skips NULL items */
    PyTuple_SET_ITEM(head, 2, path);
    PyTuple_SET_ITEM(head, 3, query_bytes);
    PyTuple_SET_ITEM(head, 5, rest);
    if (path == NULL || query_bytes == NULL || rest == NULL) {
        Py_DECREF(head);
        return NULL;
    }
    return head;
decline:
    Py_DECREF(headers);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
fail:
    Py_DECREF(headers);
    return NULL;
}

/* SHA-1 (FIPS 180-4) of one short message, for the accept key only. */
#define ROL(x, n) (((x) << (n)) | ((x) >> (32 - (n))))

static void
sha1_block(uint32_t h[5], const unsigned char *block)
{
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)block[4 * i] << 24 | (uint32_t)block[4 * i + 1] << 16 |
               (uint32_t)block[4 * i + 2] << 8 | (uint32_t)block[4 * i + 3];
    for (int i = 16; i < 80; i++)
        w[i] = ROL(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], t;
#define ROUND(f, k)                                 \
    t = ROL(a, 5) + (f) + e + (uint32_t)(k) + w[i]; \
    e = d;                                          \
    d = c;                                          \
    c = ROL(b, 30);                                 \
    b = a;                                          \
    a = t;
    int i = 0;
    for (; i < 20; i++) {
        ROUND(d ^ (b & (c ^ d)), 0x5A827999)
    }
    for (; i < 40; i++) {
        ROUND(b ^ c ^ d, 0x6ED9EBA1)
    }
    for (; i < 60; i++) {
        ROUND((b & c) | (d & (b | c)), 0x8F1BBCDC)
    }
    for (; i < 80; i++) {
        ROUND(b ^ c ^ d, 0xCA62C1D6)
    }
#undef ROUND
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

static const char WS_GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* accept_for(key: str) -> bytes | None
 *
 * The Sec-WebSocket-Accept value (base64 of the SHA-1 of the key and RFC 6455's GUID)
 * for a key of the form every client makes, 22 base64 digits and "==" (handshake.py's
 * `_KEY`); None for any other key (the Python path reads it as base64 says). */
static PyObject *
accept_for(PyObject *self, PyObject *key)
{
    (void)self;
    if (!PyUnicode_Check(key) || PyUnicode_GET_LENGTH(key) != 24 ||
        PyUnicode_KIND(key) != PyUnicode_1BYTE_KIND)
        Py_RETURN_NONE;
    const unsigned char *k = PyUnicode_1BYTE_DATA(key);
    for (int i = 0; i < 22; i++) {
        if (!(classes[k[i]] & BASE64))
            Py_RETURN_NONE;
    }
    if (k[22] != '=' || k[23] != '=')
        Py_RETURN_NONE;
    /* 24 + 36 = 60 bytes: one 64-byte block would need 9 more for the padding, so two */
    unsigned char msg[128];
    memset(msg, 0, sizeof(msg));
    memcpy(msg, k, 24);
    memcpy(msg + 24, WS_GUID, 36);
    msg[60] = 0x80;
    uint64_t bits = 60 * 8;
    for (int i = 0; i < 8; i++)
        msg[127 - i] = (unsigned char)(bits >> (8 * i));
    uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    sha1_block(h, msg);
    sha1_block(h, msg + 64);
    unsigned char digest[21];
    for (int i = 0; i < 5; i++) {
        digest[4 * i] = (unsigned char)(h[i] >> 24);
        digest[4 * i + 1] = (unsigned char)(h[i] >> 16);
        digest[4 * i + 2] = (unsigned char)(h[i] >> 8);
        digest[4 * i + 3] = (unsigned char)h[i];
    }
    digest[20] = 0;
    char out[28];
    for (int i = 0, o = 0; i < 21; i += 3, o += 4) {
        uint32_t v = (uint32_t)digest[i] << 16 | (uint32_t)digest[i + 1] << 8 | digest[i + 2];
        out[o] = B64[v >> 18];
        out[o + 1] = B64[(v >> 12) & 63];
        out[o + 2] = B64[(v >> 6) & 63];
        out[o + 3] = B64[v & 63];
    }
    out[27] = '='; /* 20 bytes: the last group holds two, so one pad */
    return PyBytes_FromStringAndSize(out, 28);
}

static PyMethodDef methods[] = {
    {"split_head", (PyCFunction)(void (*)(void))split_head, METH_FASTCALL,
     "The Head of a plain GET's request head, or None."},
    {"accept_for", accept_for, METH_O, "Sec-WebSocket-Accept for a plain key, or None."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "gateway._httphead", NULL, 0, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__httphead(void)
{
    fill_classes();
    for (size_t i = 0; i < N_KNOWN; i++) {
        known[i] = PyUnicode_InternFromString(KNOWN[i]);
        if (known[i] == NULL)
            return NULL;
    }
    known_content_length = PyUnicode_InternFromString("content-length");
    known_transfer_encoding = PyUnicode_InternFromString("transfer-encoding");
    get_bytes = PyBytes_FromString("GET");
    version_11 = PyUnicode_InternFromString("1.1");
    version_10 = PyUnicode_InternFromString("1.0");
    if (known_content_length == NULL || known_transfer_encoding == NULL || get_bytes == NULL ||
        version_11 == NULL || version_10 == NULL)
        return NULL;
    return PyModule_Create(&module);
}
