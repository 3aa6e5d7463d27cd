/* notification_frame: the WebSocket text frame of a `notification` event.
 *
 * The twin of gateway/connection/outgoing.py's _notification_frame_py: header,
 * `{"event":"notification","cursor":"`, the cursor, `","notification":`, the body, `}`.
 * The common cursor (printable ASCII without `"` or `\`, which JSON does not escape)
 * and a frame under 64 KiB are written here in one allocation; anything else goes to
 * the twin. In Python the checks, two struct packs and the join cost ~1.5k instructions.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "speedups.h"

static struct {
    PyObject *fallback; /* _notification_frame_py */
    PyObject *head;     /* b'{"event":"notification","cursor":"' */
    PyObject *mid;      /* b'","notification":' */
    int ready;
} fr;

PyObject *
gw_configure_frame(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 3 || !PyBytes_CheckExact(args[1]) || !PyBytes_CheckExact(args[2])) {
        PyErr_SetString(PyExc_TypeError, "configure_frame(fallback, head: bytes, mid: bytes)");
        return NULL;
    }
    Py_XSETREF(fr.fallback, Py_NewRef(args[0]));
    Py_XSETREF(fr.head, Py_NewRef(args[1]));
    Py_XSETREF(fr.mid, Py_NewRef(args[2]));
    fr.ready = 1;
    Py_RETURN_NONE;
}

PyObject *
gw_notification_frame(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (!fr.ready || nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "notification_frame(cursor, body) after configure");
        return NULL;
    }
    PyObject *cursor = args[0], *body = args[1];
    if (!PyUnicode_CheckExact(cursor) || !PyUnicode_IS_ASCII(cursor) || !PyBytes_CheckExact(body))
        return PyObject_Vectorcall(fr.fallback, args, 2, NULL);
    const char *c = (const char *)PyUnicode_DATA(cursor);
    Py_ssize_t c_len = PyUnicode_GET_LENGTH(cursor);
    for (Py_ssize_t i = 0; i < c_len; i++) {
        unsigned char ch = (unsigned char)c[i];
        if (ch < 0x20 || ch > 0x7e || ch == '"' || ch == '\\')
            return PyObject_Vectorcall(fr.fallback, args, 2, NULL);
    }
    Py_ssize_t h_len = PyBytes_GET_SIZE(fr.head), m_len = PyBytes_GET_SIZE(fr.mid);
    Py_ssize_t b_len = PyBytes_GET_SIZE(body);
    Py_ssize_t size = h_len + c_len + m_len + b_len + 1;
    if (size >= 65536)
        return PyObject_Vectorcall(fr.fallback, args, 2, NULL);
    Py_ssize_t header = size < 126 ? 2 : 4;
    PyObject *frame = PyBytes_FromStringAndSize(NULL, header + size);
    if (frame == NULL)
        return NULL;
    unsigned char *w = (unsigned char *)PyBytes_AS_STRING(frame);
    *w++ = 0x81; /* FIN, text */
    if (size < 126) {
        *w++ = (unsigned char)size;
    } else {
        *w++ = 126;
        *w++ = (unsigned char)(size >> 8);
        *w++ = (unsigned char)(size & 0xff);
    }
    memcpy(w, PyBytes_AS_STRING(fr.head), (size_t)h_len);
    w += h_len;
    memcpy(w, c, (size_t)c_len);
    w += c_len;
    memcpy(w, PyBytes_AS_STRING(fr.mid), (size_t)m_len);
    w += m_len;
    memcpy(w, PyBytes_AS_STRING(body), (size_t)b_len);
    w += b_len;
    *w = '}';
    return frame;
}
