/* gateway._wsframe: one whole small WebSocket text frame (a client op) to its text.
 *
 * A client op (with receipts on, most often an ack) arrives as one masked text frame of
 * a few dozen bytes. In Python (`FrameReader.small_text`) its checks, the payload's copy,
 * aiohttp's Cython unmask and the UTF-8 decode were ~6k instructions per frame
 * (scripts/profile-receipts), about a quarter of an ack's cost once the ack itself was
 * compiled. `small_text` does the same in one call; its twin, `small_text_py` in
 * gateway/websocket/frames.py, stays the reference (tests/unit/test_speedups_wsframe.py).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* The first byte of a whole text frame: FIN, no reserved bits, opcode 1. */
#define SMALL_TEXT 0x81

/* small_text(data, limit): the text of `data` if it is one whole masked text frame with a
 * payload of 1 to 125 bytes (a minimal length), at most `limit`, and valid UTF-8; None
 * for anything else. */
static PyObject *
small_text(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "small_text(data, limit) takes 2 arguments");
        return NULL;
    }
    if (!PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "small_text: data must be bytes");
        return NULL;
    }
    Py_ssize_t limit = PyLong_AsSsize_t(args[1]);
    if (limit == -1 && PyErr_Occurred())
        return NULL;
    const unsigned char *data = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    Py_ssize_t size = PyBytes_GET_SIZE(args[0]);
    if (size <= 6 || data[0] != SMALL_TEXT || data[1] <= 0x80 || data[1] >= 0xFE ||
        size != 6 + (data[1] & 0x7F) || size - 6 > limit)
        Py_RETURN_NONE;
    unsigned char payload[125];
    Py_ssize_t length = size - 6;
    for (Py_ssize_t i = 0; i < length; i++)
        payload[i] = data[6 + i] ^ data[2 + (i & 3)];
    PyObject *text = PyUnicode_DecodeUTF8((const char *)payload, length, NULL);
    if (text == NULL && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
        PyErr_Clear(); /* not UTF-8: `feed` refuses it, with its close code */
        Py_RETURN_NONE;
    }
    return text;
}

static PyMethodDef methods[] = {
    {"small_text", (PyCFunction)(void (*)(void))small_text, METH_FASTCALL,
     "small_text(data, limit) -> str | None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "gateway._wsframe", NULL, 0, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__wsframe(void)
{
    return PyModule_Create(&module);
}
