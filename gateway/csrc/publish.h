/* The functions each C source of gateway._publish adds to the module's method table. */
#ifndef GATEWAY_PUBLISH_H
#define GATEWAY_PUBLISH_H

#include <Python.h>

/* memlog_config.c (configure_append), memlog.c: the memory log's append loop */
PyObject *gw_configure_append(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *gw_memory_append(PyObject *self, PyObject *const *args, Py_ssize_t nargs);

/* drafts.c: publish_many's loops */
PyObject *gw_configure_drafts(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *gw_drafts_of(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *gw_tally(PyObject *self, PyObject *results);

/* outgoing.c: the notification event's Outgoing */
PyObject *gw_configure_outgoing(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *gw_outgoing_notification(PyObject *self, PyObject *const *args, Py_ssize_t nargs);

#endif
