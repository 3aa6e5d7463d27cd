/* Protobuf wire format: a growable output buffer and the encoders every C source shares.
 * static inline, so each extension that includes it gets its own copy (no link step). */
#ifndef GATEWAY_PBWIRE_H
#define GATEWAY_PBWIRE_H

#include <Python.h>
#include <stdint.h>
#include <string.h>

enum { PB_VARINT = 0, PB_I64 = 1, PB_LEN = 2, PB_I32 = 5 };

typedef struct {
    char *data;
    size_t len;
    size_t cap;
} pb_buf;

static inline void
pb_buf_init(pb_buf *buf)
{
    buf->data = NULL;
    buf->len = buf->cap = 0;
}

static inline void
pb_buf_free(pb_buf *buf)
{
    PyMem_Free(buf->data);
    pb_buf_init(buf);
}

/* Room for `more` bytes; -1 with MemoryError set when there is none. */
static inline int
pb_reserve(pb_buf *buf, size_t more)
{
    if (buf->cap - buf->len >= more)
        return 0;
    size_t cap = buf->cap ? buf->cap : 256;
    while (cap - buf->len < more) {
        if (cap > PY_SSIZE_T_MAX / 2) {
            PyErr_NoMemory();
            return -1;
        }
        cap *= 2;
    }
    char *data = PyMem_Realloc(buf->data, cap);
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    buf->data = data;
    buf->cap = cap;
    return 0;
}

static inline size_t
pb_varint_size(uint64_t value)
{
    size_t n = 1;
    while (value >= 0x80) {
        value >>= 7;
        n++;
    }
    return n;
}

static inline int
pb_put_varint(pb_buf *buf, uint64_t value)
{
    if (pb_reserve(buf, 10) < 0)
        return -1;
    while (value >= 0x80) {
        buf->data[buf->len++] = (char)((value & 0x7f) | 0x80);
        value >>= 7;
    }
    buf->data[buf->len++] = (char)value;
    return 0;
}

static inline int
pb_put_tag(pb_buf *buf, uint32_t field, int wire_type)
{
    return pb_put_varint(buf, ((uint64_t)field << 3) | (uint64_t)wire_type);
}

static inline int
pb_put_bytes(pb_buf *buf, const char *bytes, size_t n)
{
    if (pb_reserve(buf, n) < 0)
        return -1;
    if (n)
        memcpy(buf->data + buf->len, bytes, n);
    buf->len += n;
    return 0;
}

#endif
