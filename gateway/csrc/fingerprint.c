/* local_fingerprint: the memory log's idempotency fingerprint of (target, body).
 *
 * The twin of gateway/log/base.py's local_fingerprint_py, computing the same value: the
 * body up to its last `,"created_at":`, hashed with the target's user ids (a tuple) or
 * topic by Python's own hash of the same tuple. In Python the cut, the slice, the type
 * checks and the call cost ~4.9k instructions per notification, of which the hash ~0.9k.
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
    PyObject *content = cut < 0 ? Py_NewRef(body)
                                : PyBytes_FromStringAndSize(PyBytes_AS_STRING(body), cut);
    if (content == NULL)
        return NULL;
    PyObject *key;
    int kind = PyObject_IsInstance(target, fp.users);
    if (kind == 0) {
        kind = PyObject_IsInstance(target, fp.topic);
        if (kind > 0)
            kind = 2;
    }
    if (kind < 0) {
        Py_DECREF(content);
        return NULL;
    }
    if (kind == 0) {
        key = content; /* hash(content) */
    } else {
        PyObject *part = PyObject_GetAttr(target, kind == 1 ? fp.user_ids : fp.topic_name);
        if (part == NULL) {
            Py_DECREF(content);
            return NULL;
        }
        key = kind == 1 ? PyTuple_Pack(2, part, content) : PyTuple_Pack(3, part, Py_None, content);
        Py_DECREF(part);
        Py_DECREF(content);
        if (key == NULL)
            return NULL;
    }
    Py_hash_t hash = PyObject_Hash(key);
    Py_DECREF(key);
    if (hash == -1 && PyErr_Occurred())
        return NULL;
    return PyLong_FromSsize_t(hash);
}
