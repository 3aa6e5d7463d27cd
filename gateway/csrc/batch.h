/* What batch.c (read_batch) and batch_config.c (configure, configure_json) share: the
 * Python objects read_batch works with, handed over once by configure, never per call. */
#ifndef GATEWAY_BATCH_H
#define GATEWAY_BATCH_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

typedef struct {
    PyObject *users;       /* dict: tuple of user ids -> validated UsersTarget */
    PyObject *users_miss;  /* callable(tuple) -> UsersTarget | None (validates, caches) */
    PyObject *topics;      /* dict: topic -> TopicTarget */
    PyObject *topics_miss; /* callable(str) -> TopicTarget | None */
    PyObject *everyone;    /* the EveryoneTarget */
    PyObject *types;       /* validated notification types, each its own value */
    PyObject *known_type;  /* callable(str) -> bool (validates, caches) */
    PyObject *data_json;   /* callable(str) -> dict; raises `invalid` */
    PyObject *invalid;     /* gateway.models.Invalid */
    PyObject *priorities[5];
    PyObject *publish_item;      /* type: PublishItem */
    PyObject *notification_item; /* type: NotificationItem */
    PyObject *publish_tail;      /* the defaults of PublishItem's fields after the 2 read */
    PyObject *notification_tail; /* the same for NotificationItem's after the 9 read */
    Py_ssize_t max_items;
    int ready;
    /* pydantic_core.from_json and ("allow_inf_nan",), set by configure_json: with them
     * read_item parses data_json itself, as translate._json_object does, without that
     * Python call (~1.5k instructions); anything but a JSON object in text the
     * huge-number screen passes is declined. NULL until then: data_json is called. */
    PyObject *from_json, *from_json_kwnames;
} BatchConfig;

extern BatchConfig batch_cfg;

#endif
