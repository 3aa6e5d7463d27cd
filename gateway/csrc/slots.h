/* A Python object's __slots__ read and written at their offsets: what the C modules that
 * read a class's slots per call share (fanout.c, outgoing.c, wsframe.c, receipts_take.c).
 *
 * A slot of __slots__ is a member descriptor on its class (T_OBJECT_EX, writable) whose
 * offset is where the instance keeps the value: reading it there is a load, where generic
 * getattr costs ~130 instructions a name. A name that is anything else on the class (a
 * property, a class attribute, a slot a subclass hides) has no offset (-1) and is read
 * through getattr, so what C reads is what Python would. Header-only (static inline): the
 * callers are in four extension modules and on their hot paths.
 */
#ifndef GATEWAY_SLOTS_H
#define GATEWAY_SLOTS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>
#include <structmember.h>

/* The offset `descr` reads and writes when it is an object slot's member descriptor, else
 * -1 (NULL too: the name is not on the class). */
static inline Py_ssize_t
member_offset(PyObject *descr)
{
    if (descr == NULL || Py_TYPE(descr) != &PyMemberDescr_Type)
        return -1;
    PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
    return member->type == T_OBJECT_EX && !(member->flags & READONLY) ? member->offset : -1;
}

/* member_offset of what `name` finds on `tp` (through the MRO, as getattr finds it). */
static inline Py_ssize_t
slot_offset(PyTypeObject *tp, PyObject *name)
{
    return member_offset(_PyType_Lookup(tp, name));
}

/* What obj holds in the slot at `offset` (borrowed; NULL: unset). */
static inline PyObject *
slot_value(PyObject *obj, Py_ssize_t offset)
{
    return *(PyObject **)((char *)obj + offset);
}

/* obj.<names[i]> (a new reference; NULL with getattr's error, an unset slot's too): read
 * at `offset` when it is one (>= 0), else through getattr. The name is passed as its
 * table and index, loaded only for getattr: passed as a value it cost the taker and
 * open_text ~11 instructions an ack between them (profile-receipts: receive). */
static inline PyObject *
slot_get(PyObject *obj, Py_ssize_t offset, PyObject *const *names, int i)
{
    if (offset >= 0) {
        PyObject *value = slot_value(obj, offset);
        if (value != NULL)
            return Py_NewRef(value);
    }
    return PyObject_GetAttr(obj, names[i]); /* raises as Python would when unset */
}

/* obj.<names[i]> = value: 0, or -1 with setattr's error. */
static inline int
slot_set(PyObject *obj, Py_ssize_t offset, PyObject *const *names, int i, PyObject *value)
{
    if (offset < 0)
        return PyObject_SetAttr(obj, names[i], value);
    Py_XSETREF(*(PyObject **)((char *)obj + offset), Py_NewRef(value));
    return 0;
}

/* A class's offsets for a fixed list of names, kept while its version tag holds (a change
 * to the class or a base drops the tag). */
#define SLOTS_MAX 8

typedef struct {
    PyTypeObject *type; /* a strong reference */
    unsigned int version;
    Py_ssize_t offset[SLOTS_MAX];
} SlotLayout;

/* Whether `layout` is `tp`'s, still current. */
static inline int
layout_holds(const SlotLayout *layout, PyTypeObject *tp)
{
    return layout->type == tp && tp->tp_version_tag == layout->version &&
           PyType_HasFeature(tp, Py_TPFLAGS_VALID_VERSION_TAG);
}

/* `tp`'s offsets of names[0:n] (n <= SLOTS_MAX) into `layout`: 1, or 0 when `tp` has no
 * version tag to keep them by (then `layout` is untouched and the caller reads through
 * getattr). */
static inline int
layout_fill(SlotLayout *layout, PyTypeObject *tp, PyObject *const *names, int n)
{
    Py_ssize_t offset[SLOTS_MAX];
    for (int i = 0; i < n; i++)
        offset[i] = slot_offset(tp, names[i]);
    /* a lookup may assign the version tag: read it after */
    if (!PyType_HasFeature(tp, Py_TPFLAGS_VALID_VERSION_TAG))
        return 0;
    Py_XSETREF(layout->type, (PyTypeObject *)Py_NewRef((PyObject *)tp));
    layout->version = tp->tp_version_tag;
    memcpy(layout->offset, offset, (size_t)n * sizeof(offset[0]));
    return 1;
}

#endif
