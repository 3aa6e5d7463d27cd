/* Protobuf wire format, reading: bounds-checked varints and fields over a byte span.
 * static inline, shared by the C sources (no link step). Any malformed input makes
 * pb_next return -1: callers then leave the message to upb, which phrases the error. */
#ifndef GATEWAY_PBREAD_H
#define GATEWAY_PBREAD_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const unsigned char *p;
    const unsigned char *end;
} pb_span;

typedef struct {
    uint32_t number;
    int wire_type;
    uint64_t varint;  /* PB_VARINT */
    pb_span bytes;    /* PB_LEN */
} pb_field;

static inline int
pb_read_varint(pb_span *s, uint64_t *out)
{
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (s->p >= s->end)
            return -1;
        unsigned char byte = *s->p++;
        if (shift == 63 && byte > 1)
            return -1; /* past 64 bits */
        value |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *out = value;
            return 0;
        }
    }
    return -1; /* more than 10 bytes */
}

/* The next field of `s` into `f`: 1, 0 at the end, -1 if malformed. Fixed-width fields
 * are skipped over (read as their wire type only); groups are malformed here. */
static inline int
pb_next(pb_span *s, pb_field *f)
{
    if (s->p >= s->end)
        return 0;
    uint64_t key;
    if (pb_read_varint(s, &key) < 0 || key > 0xffffffffu || (key >> 3) == 0)
        return -1;
    f->number = (uint32_t)(key >> 3);
    f->wire_type = (int)(key & 7);
    switch (f->wire_type) {
    case 0: /* varint */
        return pb_read_varint(s, &f->varint) < 0 ? -1 : 1;
    case 1: /* 64-bit */
        if (s->end - s->p < 8)
            return -1;
        s->p += 8;
        return 1;
    case 2: { /* length-delimited */
        uint64_t n;
        if (pb_read_varint(s, &n) < 0 || n > (uint64_t)(s->end - s->p))
            return -1;
        f->bytes.p = s->p;
        f->bytes.end = s->p + n;
        s->p += n;
        return 1;
    }
    case 5: /* 32-bit */
        if (s->end - s->p < 4)
            return -1;
        s->p += 4;
        return 1;
    default: /* groups (3, 4) and the unused 6, 7 */
        return -1;
    }
}

#endif
