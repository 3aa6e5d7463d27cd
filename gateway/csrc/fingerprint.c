/* local_fingerprint: the memory log's idempotency fingerprint of (target, body).
 *
 * The twin of gateway/log/base.py's local_fingerprint_py, computing the same value: the
 * body up to its last `,"created_at":`, hashed with the target's user ids (a tuple) or
 * topic by Python's own hash of the same tuple. In Python the cut, the slice, the type
 * checks and the call cost ~4.9k instructions per notification, of which the hash ~0.9k.
 * The value is the tuple's hash computed as tupleobject.c does, over the body's bytes in
 * place (bytes hash with _Py_HashBytes): no slice, no tuple (~2.6k -> ~1.5k).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "speedups.h"

static struct {
    PyObject *fallback; /* local_fingerprint_py */
    PyObject *users;    /* UsersTarget */
    PyObject *topic;    /* TopicTarget */
    PyObject *marker;   /* b',"created_at":' */
    PyObject *user_ids; /* "user_ids" */
    PyObject *topic_name;
    int ready;
} fp;

PyObject *
gw_configure_fingerprint(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 4 || !PyType_Check(args[1]) || !PyType_Check(args[2]) ||
        !PyBytes_CheckExact(args[3]) || PyBytes_GET_SIZE(args[3]) == 0) {
        PyErr_SetString(PyExc_TypeError,
                        "configure_fingerprint(fallback, UsersTarget, TopicTarget, marker)");
        return NULL;
    }
    if (fp.user_ids == NULL) {
        fp.user_ids = PyUnicode_InternFromString("user_ids");
        fp.topic_name = PyUnicode_InternFromString("topic");
        if (fp.user_ids == NULL || fp.topic_name == NULL)
            return NULL;
    }
    Py_XSETREF(fp.fallback, Py_NewRef(args[0]));
    Py_XSETREF(fp.users, Py_NewRef(args[1]));
    Py_XSETREF(fp.topic, Py_NewRef(args[2]));
    Py_XSETREF(fp.marker, Py_NewRef(args[3]));
    fp.ready = 1;
    Py_RETURN_NONE;
}

/* CPython's tuple hash constants (Objects/tupleobject.c) */
#if SIZEOF_PY_UHASH_T > 4
#define XXPRIME_1 ((Py_uhash_t)11400714785074694791ULL)
#define XXPRIME_2 ((Py_uhash_t)14029467366897019727ULL)
#define XXPRIME_5 ((Py_uhash_t)2870177450012600261ULL)
#define XXROTATE(x) ((x << 31) | (x >> 33))
#else
#define XXPRIME_1 ((Py_uhash_t)2654435761UL)
#define XXPRIME_2 ((Py_uhash_t)2246822519UL)
#define XXPRIME_5 ((Py_uhash_t)374761393UL)
#define XXROTATE(x) ((x << 13) | (x >> 19))
#endif

/* bytes.rfind(marker) */
static Py_ssize_t
rfind(const char *s, Py_ssize_t n, const char *m, Py_ssize_t k)
{
    for (Py_ssize_t i = n - k; i >= 0; i--)
        if (s[i] == m[0] && memcmp(s + i, m, (size_t)k) == 0)
            return i;
    return -1;
}

PyObject *
gw_local_fingerprint(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (!fp.ready || nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "local_fingerprint(target, body) after configure");
        return NULL;
    }
    PyObject *target = args[0], *body = args[1];
    if (!PyBytes_CheckExact(body))
        return PyObject_Vectorcall(fp.fallback, args, 2, NULL);
    Py_ssize_t cut = rfind(PyBytes_AS_STRING(body), PyBytes_GET_SIZE(body),
                           PyBytes_AS_STRING(fp.marker), PyBytes_GET_SIZE(fp.marker));
    if (cut < 0)
        cut = PyBytes_GET_SIZE(body);
    /* hash(content) without the slice: bytes hash their bytes with _Py_HashBytes */
    Py_hash_t content_hash = _Py_HashBytes(PyBytes_AS_STRING(body), cut);
    int kind;
    if (Py_IS_TYPE(target, (PyTypeObject *)fp.users)) { /* exact: no metaclass hook */
        kind = 1;
    } else if (Py_IS_TYPE(target, (PyTypeObject *)fp.topic)) {
        kind = 2;
    } else {
        kind = PyObject_IsInstance(target, fp.users);
        if (kind == 0) {
            kind = PyObject_IsInstance(target, fp.topic);
            if (kind > 0)
                kind = 2;
        }
        if (kind < 0)
            return NULL;
    }
    if (kind == 0)
        return PyLong_FromSsize_t(content_hash);
    /* the field from the instance (the model's __getattr__ only runs for a miss) */
    PyObject *name = kind == 1 ? fp.user_ids : fp.topic_name;
    PyObject *part = PyObject_GenericGetAttr(target, name);
    if (part == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError))
            return NULL;
        PyErr_Clear();
        part = PyObject_GetAttr(target, name);
        if (part == NULL)
            return NULL;
    }
    /* hash((part, content)) or hash((part, None, content)): CPython's tuple hash (xxHash
     * lanes, tupleobject.c), without making the tuple */
    Py_hash_t lanes[3];
    Py_ssize_t n = 0;
    lanes[n++] = PyObject_Hash(part);
    Py_DECREF(part);
    if (lanes[0] == -1)
        return NULL;
    if (kind == 2)
        lanes[n++] = PyObject_Hash(Py_None);
    lanes[n++] = content_hash;
    Py_uhash_t acc = XXPRIME_5;
    for (Py_ssize_t i = 0; i < n; i++) {
        acc += (Py_uhash_t)lanes[i] * XXPRIME_2;
        acc = XXROTATE(acc);
        acc *= XXPRIME_1;
    }
    acc += (Py_uhash_t)n ^ (XXPRIME_5 ^ 3527539UL);
    Py_hash_t hash = acc == (Py_uhash_t)-1 ? 1546275796 : (Py_hash_t)acc;
    return PyLong_FromSsize_t(hash);
}
