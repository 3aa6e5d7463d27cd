/* The functions each C source of gateway._speedups adds to the module's method table. */
#ifndef GATEWAY_SPEEDUPS_H
#define GATEWAY_SPEEDUPS_H

#include <Python.h>

/* speedups.c: translate's huge-number screen (1: the text may hold one) */
int gw_may_hold_huge(PyObject *text);

/* canon.c: a data_json text that is already its own encoding (NULL, no error: declined) */
PyObject *gw_canonical_json(const unsigned char *text, Py_ssize_t n);
PyObject *gw_canonical_json_py(PyObject *self, PyObject *text);

/* batch_config.c (the two configures), batch.c (read_batch) */
PyObject *gw_configure_json(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *gw_configure(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *gw_read_batch(PyObject *self, PyObject *const *args, Py_ssize_t nargs);

/* encode.c */
PyObject *gw_configure_encode(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *gw_encode_notification(PyObject *self, PyObject *n);

/* maker.c */
PyObject *gw_tuple_maker(PyObject *self, PyObject *const *args, Py_ssize_t nargs);

/* fingerprint.c */
PyObject *gw_configure_fingerprint(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *gw_local_fingerprint(PyObject *self, PyObject *const *args, Py_ssize_t nargs);

/* frame.c */
PyObject *gw_configure_frame(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *gw_notification_frame(PyObject *self, PyObject *const *args, Py_ssize_t nargs);

/* fanout_config.c, fanout.c */
PyObject *gw_configure_write_each(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *gw_write_each(PyObject *self, PyObject *const *args, Py_ssize_t nargs);

/* firstthen.c */
PyObject *gw_first_then(PyObject *self, PyObject *const *args, Py_ssize_t nargs);

#endif
