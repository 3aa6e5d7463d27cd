/* canonical_json: a data_json text carried into the notification as it is, when it is
 * already what parsing it and encoding it again would write.
 *
 * The batch reader used to parse every data_json into a dict (pydantic_core.from_json,
 * ~4.7k instructions per ~100-byte text) for the encode to write it back (orjson, ~1.7k).
 * For a text in the form below the result of that round trip is the text itself with its
 * whitespace left out, so the reader keeps those bytes (NotificationItem.data_json) and
 * the encode copies them: the same body, hence the same fingerprint. The form, each rule
 * what orjson.dumps(from_json(text)) writes (encode.c copies a carried text as it is):
 *   - an object at the top; objects with distinct keys (a repeated key is one entry in
 *     the dict), at most 64 keys each, nested at most 64 deep;
 *   - strings of printable ASCII, and the escapes orjson writes: \" \\ \b \f \n \r \t
 *     and \u00xx (lowercase) for the other control characters;
 *   - integers of at most 18 digits, not -0;
 *   - numbers with a fraction and no exponent that are the shortest text of their
 *     double in [1e-4, 1e15) (orjson and repr both write those without an exponent):
 *     a fraction ending in 0 only as X.0 (X at most 15 digits); at most 15 significant
 *     digits (which any double's shortest text then is, DBL_DIG), or 16 below 2**53
 *     whose double no 15-digit text and no other 16-digit neighbour reaches (the
 *     doubles computed exactly: an integer below 2**53 divided by an exact power of 10);
 *   - true, false, null; whitespace between tokens (left out).
 * Anything else is declined (None): the reader parses it as before, so every rule and
 * message (not JSON, not an object, NaN, a number past a double) stays the Python path's.
 * tests/unit/test_speedups_canon.py checks the bytes against orjson.dumps(from_json()).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "speedups.h"

#define MAX_DEPTH 64
#define MAX_KEYS 64

typedef struct {
    const unsigned char *p, *end;
    char *out; /* the output's start */
    char *w;   /* where the next byte goes (never past p's offset: only whitespace is left out) */
    int depth;
} canon;

static const double exact_pow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static void
skip_ws(canon *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static inline void
put(canon *c, const unsigned char *from, size_t n)
{
    memcpy(c->w, from, n); /* the output is another buffer */
    c->w += n;
}

/* 1 for a byte a string holds as it is: printable ASCII (DEL too) but `"` and `\` */
static unsigned char plain[256];

static void
fill_plain(void)
{
    if (plain['a'])
        return;
    for (int ch = 0x20; ch < 0x80; ch++)
        plain[ch] = ch != '"' && ch != '\\';
}

static int
lower_hex(unsigned char h)
{
    if (h >= '0' && h <= '9')
        return h - '0';
    if (h >= 'a' && h <= 'f')
        return h - 'a' + 10;
    return -1;
}

/* At '"': the string, copied whole. */
static int
string(canon *c)
{
    const unsigned char *start = c->p++;
    while (c->p < c->end) {
        while (c->p < c->end && plain[*c->p])
            c->p++;
        if (c->p >= c->end)
            return 0;
        unsigned char ch = *c->p;
        if (ch == '"') {
            c->p++;
            put(c, start, (size_t)(c->p - start));
            return 1;
        }
        if (ch < 0x20 || ch >= 0x80)
            return 0; /* a raw control character (not JSON), or not ASCII */
        if (ch != '\\') {
            c->p++;
            continue;
        }
        if (c->end - c->p < 2)
            return 0;
        unsigned char e = c->p[1];
        if (e == '"' || e == '\\' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') {
            c->p += 2;
            continue;
        }
        if (e != 'u' || c->end - c->p < 6 || c->p[2] != '0' || c->p[3] != '0')
            return 0;
        int hi = lower_hex(c->p[4]), lo = lower_hex(c->p[5]);
        if (hi < 0 || lo < 0 || hi > 1)
            return 0;
        int v = hi * 16 + lo; /* orjson writes these five short, and nothing else this way */
        if (v == '\b' || v == '\t' || v == '\n' || v == '\f' || v == '\r')
            return 0;
        c->p += 6;
    }
    return 0;
}

static int
is_digit(const canon *c)
{
    return c->p < c->end && *c->p >= '0' && *c->p <= '9';
}

/* At '-' or a digit: a number of the form above, copied. */
static int
number(canon *c)
{
    const unsigned char *start = c->p;
    int negative = *c->p == '-';
    if (negative)
        c->p++;
    if (!is_digit(c))
        return 0;
    const unsigned char *int_start = c->p;
    if (*c->p == '0')
        c->p++;
    else
        while (is_digit(c))
            c->p++;
    Py_ssize_t int_len = c->p - int_start;
    const unsigned char *frac = NULL;
    Py_ssize_t frac_len = 0;
    if (c->p < c->end && *c->p == '.') {
        frac = ++c->p;
        while (is_digit(c))
            c->p++;
        frac_len = c->p - frac;
        if (frac_len == 0)
            return 0;
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E'))
        return 0;
    if (frac == NULL) { /* an integer */
        if (int_len > 18 || (negative && *int_start == '0'))
            return 0;
        put(c, start, (size_t)(c->p - start));
        return 1;
    }
    if (frac_len == 1 && *frac == '0') { /* X.0: an integral double, written so */
        if (int_len > 15)
            return 0;
        put(c, start, (size_t)(c->p - start));
        return 1;
    }
    if (frac[frac_len - 1] == '0' || frac_len > 22)
        return 0;
    uint64_t digits = 0;
    int significant = 0;
    for (const unsigned char *d = int_start; d < c->p; d++) {
        if (*d == '.')
            continue;
        if (digits == 0 && *d == '0')
            continue; /* leading zeros */
        if (++significant > 16)
            return 0;
        digits = digits * 10 + (uint64_t)(*d - '0');
    }
    if (digits == 0 || digits >= (1ULL << 53))
        return 0;
    double scale = exact_pow10[frac_len];
    double x = (double)digits / scale;
    if (x < 1e-4 || x >= 1e15)
        return 0;
    if (significant == 16) {
        /* the shortest text: no 15-digit one reaches x (the two around it on that grid
         * are the nearest: if any did, one of them would), and it is the only 16-digit
         * one (else the nearest of them would be written, which may be another) */
        double coarse = exact_pow10[frac_len - 1];
        uint64_t below = digits / 10;
        if ((double)below / coarse == x || (double)(below + 1) / coarse == x ||
            (double)(digits - 1) / scale == x || (double)(digits + 1) / scale == x)
            return 0;
    }
    put(c, start, (size_t)(c->p - start));
    return 1;
}

static int value(canon *c);

static int
literal(canon *c, const char *word, size_t n)
{
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
        return 0;
    put(c, c->p, n);
    c->p += n;
    return 1;
}

enum { MALFORMED, MORE, CLOSED };

/* After an item of a container that `close` ends: its comma (MORE: another item follows)
 * or `close` (CLOSED: the container's depth given back), written through; else MALFORMED. */
static int
after_item(canon *c, char close)
{
    skip_ws(c);
    if (c->p >= c->end)
        return MALFORMED;
    if (*c->p == ',') {
        c->p++;
        *c->w++ = ',';
        skip_ws(c);
        return MORE;
    }
    if (*c->p != close)
        return MALFORMED;
    c->p++;
    *c->w++ = close;
    c->depth--;
    return CLOSED;
}

/* At '{': an object whose keys are distinct. */
static int
object(canon *c)
{
    if (++c->depth > MAX_DEPTH)
        return 0;
    *c->w++ = '{';
    c->p++;
    skip_ws(c);
    if (c->p < c->end && *c->p == '}') {
        c->p++;
        *c->w++ = '}';
        c->depth--;
        return 1;
    }
    Py_ssize_t keys[MAX_KEYS][2]; /* each key's offset and length in the output */
    int count = 0;
    for (;;) {
        if (c->p >= c->end || *c->p != '"' || count == MAX_KEYS)
            return 0;
        char *key = c->w;
        if (!string(c))
            return 0;
        Py_ssize_t len = c->w - key, at = key - c->out;
        for (int i = 0; i < count; i++) /* canonical escapes: equal keys, equal bytes */
            if (keys[i][1] == len && memcmp(c->out + keys[i][0], key, (size_t)len) == 0)
                return 0;
        keys[count][0] = at;
        keys[count][1] = len;
        count++;
        skip_ws(c);
        if (c->p >= c->end || *c->p != ':')
            return 0;
        c->p++;
        *c->w++ = ':';
        skip_ws(c);
        if (!value(c))
            return 0;
        int next = after_item(c, '}');
        if (next != MORE)
            return next == CLOSED;
    }
}

static int
array(canon *c)
{
    if (++c->depth > MAX_DEPTH)
        return 0;
    *c->w++ = '[';
    c->p++;
    skip_ws(c);
    if (c->p < c->end && *c->p == ']') {
        c->p++;
        *c->w++ = ']';
        c->depth--;
        return 1;
    }
    for (;;) {
        if (!value(c))
            return 0;
        int next = after_item(c, ']');
        if (next != MORE)
            return next == CLOSED;
    }
}

static int
value(canon *c)
{
    if (c->p >= c->end)
        return 0;
    switch (*c->p) {
    case '{': return object(c);
    case '[': return array(c);
    case '"': return string(c);
    case 't': return literal(c, "true", 4);
    case 'f': return literal(c, "false", 5);
    case 'n': return literal(c, "null", 4);
    default: return number(c);
    }
}

PyObject *
gw_canonical_json(const unsigned char *text, Py_ssize_t n)
{
    fill_plain();
    PyObject *out = PyBytes_FromStringAndSize(NULL, n);
    if (out == NULL)
        return NULL;
    canon c = {text, text + n, PyBytes_AS_STRING(out), PyBytes_AS_STRING(out), 0};
    skip_ws(&c);
    int ok = c.p < c.end && *c.p == '{' && object(&c);
    if (ok) {
        skip_ws(&c);
        ok = c.p == c.end;
    }
    if (!ok) {
        Py_DECREF(out);
        return NULL; /* no error: declined */
    }
    Py_ssize_t written = c.w - c.out;
    if (written != n && _PyBytes_Resize(&out, written) < 0)
        return NULL;
    return out;
}

/* canonical_json(text: bytes) -> bytes | None, for the tests */
PyObject *
gw_canonical_json_py(PyObject *self, PyObject *text)
{
    (void)self;
    if (!PyBytes_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "canonical_json(text: bytes)");
        return NULL;
    }
    PyObject *out = gw_canonical_json((const unsigned char *)PyBytes_AS_STRING(text),
                                      PyBytes_GET_SIZE(text));
    if (out == NULL && !PyErr_Occurred())
        Py_RETURN_NONE;
    return out;
}
