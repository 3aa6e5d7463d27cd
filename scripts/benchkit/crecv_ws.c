/* crecv_ws: one connection of the C load client, as wsclient.py's WsClient does it.
 *
 * The upgrade response head, then frame headers only: the first text frame is the welcome,
 * every later one a notification (counted; every `sample`-th read for its "ts", "lane" and
 * "seq"); ping -> pong, close -> close. With acks on, a notification's cursor is owed and
 * acked as the SDKs do (crecv_acks.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "crecv.h"

/* A client frame's mask key: SDKs pick a random one per frame; cheap xorshift here. */
static uint32_t mask_state = 2463534242u;

static uint32_t next_mask(void)
{
    mask_state ^= mask_state << 13;
    mask_state ^= mask_state >> 17;
    mask_state ^= mask_state << 5;
    return mask_state;
}

void conn_send(Conn *c, const unsigned char *p, size_t n)
{
    if (c->closed || c->closing)
        return;
    if (c->out_len == c->out_off && !c->connecting) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return; /* the read side sees the reset */
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        }
        if (!n)
            return;
    }
    if (c->out_off) { /* compact before appending */
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    c->out = realloc(c->out, c->out_len + n);
    if (c->out == NULL)
        abort();
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
    conn_watch(c);
}

void conn_send_masked(Conn *c, int opcode, const unsigned char *p, size_t n)
{
    unsigned char f[8 + 125 + 6];
    if (n > 125)
        return; /* control frames and acks are never longer */
    uint32_t key = next_mask();
    f[0] = (unsigned char)(0x80 | opcode);
    f[1] = (unsigned char)(0x80 | n);
    memcpy(f + 2, &key, 4);
    for (size_t i = 0; i < n; i++)
        f[6 + i] = p[i] ^ f[2 + (i & 3)];
    conn_send(c, f, 6 + n);
}

static void owe(Conn *c, const unsigned char *buf, size_t start, size_t end)
{
    static const char key[] = "\"cursor\":\"";
    const unsigned char *p = memmem(buf + start, end - start, key, sizeof key - 1);
    if (p == NULL)
        return;
    p += sizeof key - 1;
    const unsigned char *q = memchr(p, '"', (size_t)(buf + end - p));
    if (q == NULL || q - p > MAX_OWED || q == p)
        return;
    memcpy(c->owed, p, (size_t)(q - p));
    c->owed_len = (int)(q - p);
    c->owed_count++;
    ack_or_schedule(c);
}

/* The number after `key` (which must be found at or after *from), up to the next ','. */
static int field(const unsigned char *buf, size_t end, size_t *from, const char *key,
                 char *num, size_t cap)
{
    size_t klen = strlen(key);
    const unsigned char *p = memmem(buf + *from, end - *from, key, klen);
    if (p == NULL)
        return -1;
    p += klen;
    const unsigned char *q = memchr(p, ',', (size_t)(buf + end - p));
    if (q == NULL || q == p || (size_t)(q - p) >= cap)
        return -1;
    memcpy(num, p, (size_t)(q - p));
    num[q - p] = 0;
    *from = (size_t)(q - buf);
    return 0;
}

static void sample(Conn *c, const unsigned char *buf, size_t start, size_t end, double now)
{
    char ts_s[40], lane_s[24], seq_s[24];
    size_t at = start;
    char *e1, *e2, *e3;
    if (field(buf, end, &at, "\"ts\":", ts_s, sizeof ts_s) ||
        field(buf, end, &at, "\"lane\":", lane_s, sizeof lane_s) ||
        field(buf, end, &at, "\"seq\":", seq_s, sizeof seq_s)) {
        tally.bad_samples++;
        return;
    }
    double ts = strtod(ts_s, &e1);
    long long lane = strtoll(lane_s, &e2, 10);
    long long seq = strtoll(seq_s, &e3, 10);
    if (*e1 || *e2 || *e3 || lane < 0 || lane > 1000000) {
        tally.bad_samples++;
        return;
    }
    if (tally.nlat < MAX_SAMPLES) {
        if (tally.nlat == tally.cap_lat) {
            tally.cap_lat = tally.cap_lat ? tally.cap_lat * 2 : 65536;
            tally.lat = realloc(tally.lat, tally.cap_lat * sizeof(double));
            if (tally.lat == NULL)
                abort();
        }
        tally.lat[tally.nlat++] = (now - ts) * 1000.0;
    }
    if (lane >= c->nlast) {
        c->last = realloc(c->last, (size_t)(lane + 1) * sizeof(int64_t));
        if (c->last == NULL)
            abort();
        for (long long i = c->nlast; i <= lane; i++)
            c->last[i] = -1;
        c->nlast = (int)lane + 1;
    }
    /* Every frame sampled: each lane's sequence must be gap-free; otherwise increasing. */
    if (tally.sample == 1 ? seq != c->last[lane] + 1 : seq <= c->last[lane])
        tally.order_errors++;
    c->last[lane] = seq;
}

static void on_close_frame(Conn *c, const unsigned char *p, size_t n)
{
    int code = n >= 2 ? (p[0] << 8) | p[1] : 1005;
    c->close_code = code;
    int i = 0;
    while (i < tally.ncodes && tally.codes[i][0] != code)
        i++;
    if (i < 8) {
        if (i == tally.ncodes) {
            tally.codes[i][0] = code;
            tally.codes[i][1] = 0;
            tally.ncodes++;
        }
        tally.codes[i][1]++;
    }
    unsigned char reply[2] = {(unsigned char)(code >> 8), (unsigned char)code};
    conn_send_masked(c, 0x8, reply, 2);
}

/* The response head: -1 while incomplete or refused, else where the frames start. */
static long handshake(Conn *c, const unsigned char *buf, size_t size)
{
    const unsigned char *end = memmem(buf, size, "\r\n\r\n", 4);
    if (end == NULL) {
        if (size > 65536)
            on_fail(c, "ConnectionError: oversized HTTP response");
        return -1;
    }
    const unsigned char *sp = memchr(buf, ' ', (size_t)(end - buf));
    if (sp == NULL || end - sp < 4 || memcmp(sp + 1, "101", 3) || (sp[4] != ' ' && sp[4] != '\r')) {
        char reason[200];
        const unsigned char *eol = memmem(buf, size, "\r\n", 2);
        size_t body = size - (size_t)(end + 4 - buf);
        snprintf(reason, sizeof reason, "ConnectionError: %.*s %.*s", (int)(eol - buf), buf,
                 (int)(body < 100 ? body : 100), end + 4);
        on_fail(c, reason);
        return -1;
    }
    c->upgraded = 1;
    return end + 4 - buf;
}

/* The socket is readable: one read (after the bytes kept from the last), then its frames. */
void conn_readable(Conn *c, unsigned char **rbuf, size_t *rcap)
{
    if (*rcap < c->in_len + 262144) {
        *rcap = c->in_len + 262144;
        *rbuf = realloc(*rbuf, *rcap);
        if (*rbuf == NULL)
            abort();
    }
    unsigned char *buf = *rbuf;
    if (c->in_len)
        memcpy(buf, c->in, c->in_len);
    ssize_t n = read(c->fd, buf + c->in_len, *rcap - c->in_len);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        on_gone(c);
        return;
    }
    size_t size = c->in_len + (size_t)n, pos = 0;
    double now = wall_now();
    if (!c->upgraded) {
        long at = handshake(c, buf, size);
        if (at < 0) {
            if (!c->closed) { /* incomplete: keep it */
                c->in = realloc(c->in, size);
                if (c->in == NULL)
                    abort();
                memcpy(c->in, buf, size);
                c->in_len = size;
            }
            return;
        }
        pos = (size_t)at;
        if (!c->welcome)
            on_ready(c); /* a server that sends no welcome (nchan): ready at the 101 */
    }
    int64_t count = c->count;
    int sample_every = tally.sample, closing = 0;
    while (size - pos >= 2) {
        uint64_t length = buf[pos + 1] & 0x7F;
        size_t start;
        if (length < 126) {
            start = pos + 2;
        } else if (length == 126) {
            if (size - pos < 4)
                break;
            length = ((uint64_t)buf[pos + 2] << 8) | buf[pos + 3];
            start = pos + 4;
        } else {
            if (size - pos < 10)
                break;
            length = 0;
            for (int i = 2; i < 10; i++)
                length = (length << 8) | buf[pos + i];
            start = pos + 10;
        }
        if (length > size - start)
            break;
        size_t end = start + (size_t)length;
        int opcode = buf[pos] & 0x0F;
        pos = end;
        if (opcode == 0x1) {
            if (c->ready) {
                count++;
                if (count % sample_every == 0)
                    sample(c, buf, start, end, now);
                if (c->acks)
                    owe(c, buf, start, end);
            } else {
                on_ready(c); /* the welcome */
            }
        } else if (opcode == 0x8) {
            on_close_frame(c, buf + start, end - start);
            closing = 1;
            break;
        } else if (opcode == 0x9) {
            conn_send_masked(c, 0xA, buf + start, end - start);
        }
    }
    size_t rest = closing ? 0 : size - pos;
    if (rest) {
        unsigned char *kept = realloc(c->in, rest);
        if (kept == NULL)
            abort();
        memcpy(kept, buf + pos, rest);
        c->in = kept;
    } else {
        free(c->in);
        c->in = NULL;
    }
    c->in_len = rest;
    int64_t got = count - c->count;
    if (got) {
        c->count = count;
        tally.frames += got;
        *tally.shared += got;
        tally.last_rx = now;
        if (tally.first_rx == 0.0)
            tally.first_rx = now;
    }
    if (closing)
        on_gone(c);
}
