/* What fanout.c (write_each) and fanout_config.c (configure_write_each) share: the
 * Outbox's slots write_each reads at their offsets, resolved once by configure. */
#ifndef GATEWAY_FANOUT_H
#define GATEWAY_FANOUT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

enum { WS, BACKLOG, HELD, CLOSED, PENDING, SINK, FD, CONTEXT, ACKED, NSLOTS };

/* The types whose slots were checked (the Outbox's own descriptors, not hidden). */
#define KNOWN_TYPES 8

typedef struct {
    PyTypeObject *outbox;
    PyObject *direct_fd; /* direct.direct_fd(sink) -> int */
    PyObject *names[NSLOTS];
    PyObject *descrs[NSLOTS];
    Py_ssize_t offsets[NSLOTS];
    PyObject *s_ws, *s_limit, *s_is_closing, *s_get_write_buffer_size, *s_writelines;
    PyObject *s_discard, *s_too_slow, *s_note, *s_send;
    PyTypeObject *known[KNOWN_TYPES];
    int nknown;
    int ready;
} FanoutState;

extern FanoutState fanout;

#endif
