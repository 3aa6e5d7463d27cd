/* read_batch: a PublishBatchRequest's bytes straight into the pipeline's PublishItems.
 *
 * The C twin of gateway/grpc/accept.py's fast_item over upb's messages: it accepts only
 * what fast_item accepts, with the same values, and leaves every other item to Python
 * (the `fallback` callable, which parses the request with upb and runs the models), so
 * every rule and every error message stays the Python code's. Reading the fields here
 * instead of through upb's attribute reads saved ~20k instructions per item (callgrind).
 *
 * Anything outside the common form is declined, never judged: a field fast_item does not
 * take (data, created_at, ttl, receipt_deadline), an unknown or repeated field, a wrong
 * wire type, text that is not UTF-8, a malformed varint or length. A declined item costs
 * what it did before; a request whose top level is not a plain list of items (or holds
 * 0 or too many) returns None, and the caller parses it with upb as before.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "batch.h"
#include "pbread.h"
#include "speedups.h"

#define NOTIFICATION_FIELDS 10

/* What it reads with (batch_cfg: the caches, the item classes, the JSON reader) is set
 * once by configure and configure_json, in batch_config.c. */

/* data_json's object (a new reference), NULL and no error to decline, NULL and an error. */
static PyObject *
read_json(PyObject *json)
{
    if (batch_cfg.from_json == NULL) /* the edge's own reader, which raises Invalid */
        return PyObject_CallOneArg(batch_cfg.data_json, json);
    PyObject *argv[2] = {json, Py_False};
    PyObject *value =
        PyObject_Vectorcall(batch_cfg.from_json, argv, 1, batch_cfg.from_json_kwnames);
    if (value == NULL) {
        if (PyErr_ExceptionMatches(PyExc_ValueError)) /* not JSON: the Python path says so */
            PyErr_Clear();
        return NULL;
    }
    if (!PyDict_CheckExact(value) || gw_may_hold_huge(json)) { /* the Python path judges */
        Py_DECREF(value);
        return NULL;
    }
    return value;
}

/* A str from protobuf text, or NULL with no error set when it is not UTF-8 (declined:
 * upb refuses it, and phrases that). Every NULL below without an error is a decline. */
static PyObject *
text(pb_span s)
{
    PyObject *value = PyUnicode_DecodeUTF8((const char *)s.p, s.end - s.p, NULL);
    if (value == NULL && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError))
        PyErr_Clear();
    return value;
}

/* A tuple subclass instance (a NamedTuple) holding `values` (stolen references), then
 * the defaults in `tail`: the fields other features add later, as tuple_maker fills them. */
static PyObject *
make_tuple(PyObject *cls, PyObject **values, Py_ssize_t n, PyObject *tail)
{
    PyTypeObject *type = (PyTypeObject *)cls;
    Py_ssize_t extra = PyTuple_GET_SIZE(tail);
    PyObject *tuple = type->tp_alloc(type, n + extra);
    if (tuple == NULL) {
        for (Py_ssize_t i = 0; i < n; i++)
            Py_XDECREF(values[i]);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        PyTuple_SET_ITEM(tuple, i, values[i]);
    for (Py_ssize_t i = 0; i < extra; i++)
        PyTuple_SET_ITEM(tuple, n + i, Py_NewRef(PyTuple_GET_ITEM(tail, i)));
    return tuple;
}

enum { DECLINE = 0, ACCEPT = 1, FAIL = -1 };

/* The target's validated object (a new reference) into *target, as fast_item finds it. */
static int
read_target(pb_span s, PyObject **target)
{
    pb_field f;
    int r, kind = 0;
    pb_span body = {NULL, NULL};
    while ((r = pb_next(&s, &f)) > 0) {
        if (kind || f.wire_type != 2 || f.number < 1 || f.number > 3)
            return DECLINE; /* a second kind (upb keeps the last), or an unknown field */
        kind = (int)f.number;
        body = f.bytes;
    }
    if (r < 0 || kind == 0)
        return DECLINE;
    if (kind == 3) { /* everyone: an empty message */
        if (body.p != body.end)
            return DECLINE;
        *target = Py_NewRef(batch_cfg.everyone);
        return ACCEPT;
    }
    PyObject *key, *miss, *cache;
    if (kind == 2) {
        key = text(body);
        cache = batch_cfg.topics;
        miss = batch_cfg.topics_miss;
    } else {
        Py_ssize_t count = 0;
        pb_span scan = body;
        while ((r = pb_next(&scan, &f)) > 0) {
            if (f.number != 1 || f.wire_type != 2)
                return DECLINE;
            count++;
        }
        if (r < 0)
            return DECLINE;
        key = PyTuple_New(count);
        if (key == NULL)
            return FAIL;
        for (Py_ssize_t i = 0; i < count; i++) {
            pb_next(&body, &f);
            PyObject *user = text(f.bytes);
            if (user == NULL) {
                Py_DECREF(key);
                return PyErr_Occurred() ? FAIL : DECLINE;
            }
            PyTuple_SET_ITEM(key, i, user);
        }
        cache = batch_cfg.users;
        miss = batch_cfg.users_miss;
    }
    if (key == NULL)
        return PyErr_Occurred() ? FAIL : DECLINE;
    PyObject *found = PyDict_GetItemWithError(cache, key); /* borrowed */
    if (found != NULL) {
        Py_DECREF(key);
        *target = Py_NewRef(found);
        return ACCEPT;
    }
    if (PyErr_Occurred()) {
        Py_DECREF(key);
        return FAIL;
    }
    found = PyObject_CallOneArg(miss, key);
    Py_DECREF(key);
    if (found == NULL)
        return FAIL;
    if (found == Py_None) { /* the models refuse it: they phrase the error */
        Py_DECREF(found);
        return DECLINE;
    }
    *target = found;
    return ACCEPT;
}

static int
ascii_id(pb_span s)
{
    if (s.end - s.p > 128) /* IdempotencyKey's max_length */
        return 0;
    for (const unsigned char *c = s.p; c < s.end; c++)
        if (*c < 0x21 || *c > 0x7e) /* printable ASCII without the space */
            return 0;
    return 1;
}

/* One PublishRequest into *out (a new PublishItem), or DECLINE, or FAIL with an error. */
static int
read_item(pb_span s, PyObject *accepted_at, PyObject *ids, PyObject **out)
{
    pb_field f;
    int r, has_target = 0, has_notification = 0;
    pb_span target_bytes = {NULL, NULL}, n = {NULL, NULL};
    while ((r = pb_next(&s, &f)) > 0) {
        if (f.wire_type != 2)
            return DECLINE;
        if (f.number == 1 && !has_target) {
            has_target = 1;
            target_bytes = f.bytes;
        } else if (f.number == 2 && !has_notification) {
            has_notification = 1;
            n = f.bytes;
        } else {
            return DECLINE; /* unknown, or repeated (upb would merge the two) */
        }
    }
    if (r < 0 || !has_target || !has_notification)
        return DECLINE;

    /* the notification's fields first: no Python work for an item that is declined */
    pb_span fields[10] = {{NULL, NULL}};
    unsigned seen = 0;
    uint64_t priority = 0;
    while ((r = pb_next(&n, &f)) > 0) {
        if (f.number > 10 || (seen & (1u << f.number)))
            return DECLINE;
        seen |= 1u << f.number;
        switch (f.number) {
        case 1: case 2: case 3: case 4: case 9: /* id, type, title, body, data_json */
            if (f.wire_type != 2)
                return DECLINE;
            fields[f.number] = f.bytes;
            break;
        case 6: /* priority */
            if (f.wire_type != 0)
                return DECLINE;
            priority = f.varint;
            break;
        default: /* data, created_at, ttl, receipt_deadline: the models' path */
            return DECLINE;
        }
    }
    if (r < 0 || priority > 4)
        return DECLINE;
    pb_span id = fields[1];
    int generated = id.p == id.end;
    if (!generated && !ascii_id(id))
        return DECLINE;

    PyObject *target = NULL;
    r = read_target(target_bytes, &target);
    if (r != ACCEPT)
        return r;

    PyObject *values[NOTIFICATION_FIELDS] = {NULL};
    PyObject *type = text(fields[2]);
    if (type == NULL)
        goto give_up;
    /* a type seen before: its one str object (accept.py's _types says why) */
    PyObject *known_as = PyDict_GetItemWithError(batch_cfg.types, type);
    if (known_as != NULL && PyUnicode_CheckExact(known_as))
        Py_SETREF(type, Py_NewRef(known_as));
    values[1] = type;
    int known = known_as != NULL ? 1 : PyErr_Occurred() ? -1 : 0;
    if (known == 0) {
        PyObject *verdict = PyObject_CallOneArg(batch_cfg.known_type, type);
        if (verdict == NULL)
            goto give_up;
        known = PyObject_IsTrue(verdict);
        Py_DECREF(verdict);
    }
    if (known <= 0) /* -1: an error; 0: the models refuse the type */
        goto give_up;
    /* data_json carried as it is when that is its own encoding (canon.c): data is then
     * None, parsed only where it is read (models.data_of); else parsed here as before */
    PyObject *canonical = NULL;
    if (fields[9].p != fields[9].end) {
        canonical = gw_canonical_json(fields[9].p, fields[9].end - fields[9].p);
        if (canonical == NULL && PyErr_Occurred())
            goto give_up;
    }
    values[9] = canonical != NULL ? canonical : Py_NewRef(Py_None);
    if (canonical != NULL) {
        values[4] = Py_NewRef(Py_None);
    } else if (fields[9].p != fields[9].end) {
        PyObject *json = text(fields[9]);
        if (json == NULL)
            goto give_up;
        values[4] = read_json(json);
        Py_DECREF(json);
        if (values[4] == NULL) {
            if (PyErr_ExceptionMatches(batch_cfg.invalid)) /* the models' path reports it */
                PyErr_Clear();
            goto give_up;
        }
    } else if ((values[4] = PyDict_New()) == NULL) {
        goto give_up;
    }
    if ((values[2] = text(fields[3])) == NULL ||
        (values[3] = text(fields[4])) == NULL)
        goto give_up;
    values[0] = generated ? PyIter_Next(ids)
                          : PyUnicode_DecodeASCII((const char *)id.p, id.end - id.p, NULL);
    if (values[0] == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_RuntimeError, "the id source ran out");
        goto give_up;
    }
    values[5] = Py_NewRef(batch_cfg.priorities[priority]);
    values[6] = Py_NewRef(accepted_at);
    values[7] = Py_NewRef(Py_None); /* ttl */
    values[8] = Py_NewRef(Py_None); /* receipt_deadline */
    PyObject *notification = make_tuple(batch_cfg.notification_item, values, NOTIFICATION_FIELDS,
                                        batch_cfg.notification_tail);
    if (notification == NULL) {
        Py_DECREF(target);
        return FAIL;
    }
    PyObject *pair[2] = {target, notification};
    *out = make_tuple(batch_cfg.publish_item, pair, 2, batch_cfg.publish_tail);
    return *out == NULL ? FAIL : ACCEPT;

give_up:
    for (int i = 0; i < NOTIFICATION_FIELDS; i++)
        Py_XDECREF(values[i]);
    Py_DECREF(target);
    return PyErr_Occurred() ? FAIL : DECLINE;
}

PyObject *
gw_read_batch(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 4 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "read_batch(data: bytes, accepted_at, ids, fallback)");
        return NULL;
    }
    if (!batch_cfg.ready) {
        PyErr_SetString(PyExc_RuntimeError, "read_batch before configure");
        return NULL;
    }
    PyObject *accepted_at = args[1], *ids = args[2], *fallback = args[3];
    const unsigned char *data = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    pb_span all = {data, data + PyBytes_GET_SIZE(args[0])}, scan = all;
    pb_field f;
    int r;
    Py_ssize_t count = 0;
    while ((r = pb_next(&scan, &f)) > 0) {
        if (f.number != 1 || f.wire_type != 2)
            Py_RETURN_NONE; /* not a plain list of items: upb reads it */
        count++;
    }
    if (r < 0 || count < 1 || count > batch_cfg.max_items)
        Py_RETURN_NONE; /* malformed, or the count refused: upb and the caller say so */
    PyObject *items = PyList_New(count);
    if (items == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < count; i++) {
        pb_next(&all, &f);
        PyObject *item = NULL;
        r = read_item(f.bytes, accepted_at, ids, &item);
        if (r == DECLINE) {
            PyObject *index = PyLong_FromSsize_t(i);
            if (index == NULL)
                goto fail;
            item = PyObject_CallOneArg(fallback, index);
            Py_DECREF(index);
        }
        if (item == NULL)
            goto fail;
        PyList_SET_ITEM(items, i, item);
    }
    return items;
fail:
    Py_DECREF(items);
    return NULL;
}
