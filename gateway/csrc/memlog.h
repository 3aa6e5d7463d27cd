/* What memlog.c (append) and memlog_config.c (configure_append) share: the classes
 * append makes and checks, the fingerprint it calls, and the names it reads and calls
 * on the log and its deques, interned once by configure_append, never per call. */
#ifndef GATEWAY_MEMLOG_H
#define GATEWAY_MEMLOG_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

typedef struct {
    PyTypeObject *draft;
    PyTypeObject *entry;
    PyObject *entry_tail; /* the defaults of Entry's fields after the 7 made here */
    PyTypeObject *result;
    PyObject *result_tail; /* the same for AppendResult's after 4 */
    PyObject *fingerprint; /* log.base.local_fingerprint (C or its twin) */
    int ready;
    PyObject *s_by_id, *s_entries, *s_id_expiry, *s_window, *s_max_ids, *s_max_entries,
        *s_epoch, *s_seq, *s_evicted, *s_append, *s_popleft, *s_total_seconds;
} MemlogConfig;

extern MemlogConfig memlog;

#endif
