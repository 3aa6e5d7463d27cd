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
#include <stdint.h>
#include <string.h>

#include "slots.h"

/* The first byte of a whole text frame: FIN, no reserved bits, opcode 1. */
#define SMALL_TEXT 0x81

/* The text of `data` (bytes) if it is one whole masked text frame with a payload of 1 to
 * 125 bytes (a minimal length), at most `limit`, and valid UTF-8; None for anything else.
 * An ASCII payload (an op's JSON, as the SDKs write it) is unmasked straight into its str;
 * any other goes through the UTF-8 decoder. */
static PyObject *
text_of(PyObject *bytes, Py_ssize_t limit)
{
    const unsigned char *data = (const unsigned char *)PyBytes_AS_STRING(bytes);
    Py_ssize_t size = PyBytes_GET_SIZE(bytes);
    if (size <= 6 || data[0] != SMALL_TEXT || data[1] <= 0x80 || data[1] >= 0xFE ||
        size != 6 + (data[1] & 0x7F) || size - 6 > limit)
        Py_RETURN_NONE;
    unsigned char payload[125];
    Py_ssize_t length = size - 6, i = 0;
    /* eight bytes at a time (the key twice: the words start at multiples of 4), the
     * payload's high bits gathered on the way */
    unsigned char key[8];
    memcpy(key, data + 2, 4);
    memcpy(key + 4, data + 2, 4);
    uint64_t mask, word, high = 0;
    memcpy(&mask, key, 8);
    for (; i + 8 <= length; i += 8) {
        memcpy(&word, data + 6 + i, 8);
        word ^= mask;
        high |= word;
        memcpy(payload + i, &word, 8);
    }
    for (; i < length; i++) {
        payload[i] = data[6 + i] ^ data[2 + (i & 3)];
        high |= payload[i];
    }
    if ((high & 0x8080808080808080ULL) == 0) { /* ASCII: its own UTF-8, no decoder */
        PyObject *text = PyUnicode_New(length, 127);
        if (text != NULL)
            memcpy(PyUnicode_1BYTE_DATA(text), payload, (size_t)length);
        return text;
    }
    PyObject *text = PyUnicode_DecodeUTF8((const char *)payload, length, NULL);
    if (text == NULL && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
        PyErr_Clear(); /* not UTF-8: `feed` refuses it, with its close code */
        Py_RETURN_NONE;
    }
    return text;
}

/* small_text(data, limit): text_of's answer (frames.small_text_py is its twin). */
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
    return text_of(args[0], limit);
}

/* What open_text reads of a ServerMachine: its state and FrameReader's slots. */
enum { STATE, BUF, OPCODE, LIMIT, NREAD };
static const char *const read_names[NREAD] = {"state", "_buf", "_opcode", "_limit"};
static PyObject *read_name[NREAD];

/* The machine's class's offsets of those names (slots.h), kept for the last class seen;
 * `generic` (no offsets: getattr for each) for a class without a version tag. */
static SlotLayout seen;
static SlotLayout generic = {NULL, 0, {-1, -1, -1, -1, -1, -1, -1, -1}};

static const SlotLayout *
layout_of(PyTypeObject *tp)
{
    if (layout_holds(&seen, tp))
        return &seen;
    if (read_name[0] == NULL)
        for (int i = 0; i < NREAD; i++)
            if ((read_name[i] = PyUnicode_InternFromString(read_names[i])) == NULL)
                return NULL;
    return layout_fill(&seen, tp, read_name, NREAD) ? &seen : &generic;
}

/* machine.<name i> (a new reference; NULL with getattr's error, an unset slot too). */
static inline PyObject *
get(PyObject *machine, const SlotLayout *layout, int i)
{
    return slot_get(machine, layout->offset[i], read_name, i);
}

/* Python's truth of `value` (consumed); -1 on error. */
static inline int
truth(PyObject *value)
{
    if (value == NULL)
        return -1;
    int t = PyByteArray_CheckExact(value) ? PyByteArray_GET_SIZE(value) != 0
                                          : PyObject_IsTrue(value);
    Py_DECREF(value);
    return t;
}

/* open_text(machine, data): ServerMachine.open_text's answer (machine.py), its reads of
 * the machine's slots at their offsets: the text of one whole small text frame while the
 * stream is open and no message is in progress, else None. */
static PyObject *
open_text(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "open_text(machine, data) takes 2 arguments");
        return NULL;
    }
    PyObject *machine = args[0];
    const SlotLayout *layout = layout_of(Py_TYPE(machine));
    if (layout == NULL)
        return NULL;
    PyObject *state = get(machine, layout, STATE);
    if (state == NULL)
        return NULL;
    /* `self.state != OPEN` (OPEN is 0) */
    int closing;
    if (PyLong_CheckExact(state)) {
        int overflow = 0;
        closing = PyLong_AsLongAndOverflow(state, &overflow) != 0 || overflow != 0;
    }
    else {
        PyObject *open = PyLong_FromLong(0);
        closing = open == NULL ? -1 : PyObject_RichCompareBool(state, open, Py_NE);
        Py_XDECREF(open);
    }
    Py_DECREF(state);
    if (closing != 0)
        return closing < 0 ? NULL : Py_NewRef(Py_None);
    /* FrameReader.small_text: `if self._buf or self._opcode is not None: return None` */
    int busy = truth(get(machine, layout, BUF));
    if (busy != 0)
        return busy < 0 ? NULL : Py_NewRef(Py_None);
    PyObject *opcode = get(machine, layout, OPCODE);
    if (opcode == NULL)
        return NULL;
    Py_DECREF(opcode);
    if (opcode != Py_None)
        Py_RETURN_NONE;
    PyObject *limit_obj = get(machine, layout, LIMIT);
    if (limit_obj == NULL)
        return NULL;
    Py_ssize_t limit = PyLong_AsSsize_t(limit_obj);
    Py_DECREF(limit_obj);
    if (limit == -1 && PyErr_Occurred())
        return NULL;
    if (!PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "open_text: data must be bytes");
        return NULL;
    }
    return text_of(args[1], limit);
}

static PyMethodDef methods[] = {
    {"small_text", (PyCFunction)(void (*)(void))small_text, METH_FASTCALL,
     "small_text(data, limit) -> str | None"},
    {"open_text", (PyCFunction)(void (*)(void))open_text, METH_FASTCALL,
     "open_text(machine, data) -> str | None"},
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
