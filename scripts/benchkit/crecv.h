/* crecv: the bench's load client in C; shared declarations of crecv.c (the event loop and
 * the commands), crecv_ws.c (one connection's WebSocket reading, tally) and crecv_acks.c
 * (when to ack).
 *
 * Why C: on a 2-core machine the Python receivers' CPU (~0.8 core in the per-user scenario,
 * more once every client acks) competes with the server under test, so the figures measured
 * the load client as much as the server. Real clients run on their own devices; this one
 * costs a fraction of that CPU. See creceiver.py for the parent's side and the protocol.
 */
#ifndef CRECV_H
#define CRECV_H

#include <stddef.h>
#include <stdint.h>

/* Per receiver process: latency samples kept (the rest are counted, not stored). */
#define MAX_SAMPLES 2000000
/* The SDKs' ack coalescing: at most this many notifications per ack. */
#define ACK_EVERY 100
/* Longest cursor acked: a 125-byte frame holds {"op":"ack","cursor":"<100 bytes>"}. */
#define MAX_OWED 100

typedef struct {
    int fd;
    /* What the socket has not taken yet (the upgrade request, pongs, acks). */
    unsigned char *out;
    size_t out_len, out_off;
    /* The bytes of an unfinished response head or frame, kept for the next read. */
    unsigned char *in;
    size_t in_len;
    int64_t count; /* notification frames since the last reset */
    int64_t *last; /* per lane: the last sequence number seen (-1: none) */
    int nlast;
    char owed[MAX_OWED];
    int owed_len; /* 0: nothing owed */
    int owed_count;
    double last_ack;   /* monotonic time of this connection's last ack sent (0: none) */
    double ack_due;    /* when its trailing ack is due (0: none waiting) */
    int close_code;    /* -1: no close frame */
    uint32_t events;   /* what epoll watches for this fd now (0: not registered) */
    unsigned char connecting, upgraded, ready, closed, closing, stalled, acks, settled, welcome;
} Conn;

typedef struct {
    int sample;
    int64_t frames;
    double first_rx, last_rx;
    double *lat;
    size_t nlat, cap_lat;
    int64_t order_errors, bad_samples, unexpected_lost;
    int64_t acks_sent; /* ack frames sent since the reset */
    int codes[8][2]; /* close code, count */
    int ncodes;
    double cpu_mark, sys_mark; /* process CPU, and its kernel part, at the reset */
    volatile int64_t *shared; /* frames since reset, read by the parent */
} Tally;

typedef struct {
    char *p;
    size_t len, cap;
} Buf;

/* The connect command in progress: its connections are [first, first + n). */
typedef struct {
    long id; /* -1: none */
    size_t first, n, next;
    int inflight, concurrency, port, ok, failed;
    double deadline, t0, cpu0;
    char *keys[16];
    int counts[16];
    int nkeys;
} Batch;

/* The resume command in progress (the slow scenario's stalled client). */
typedef struct {
    long id; /* -1: none */
    size_t index;
    int64_t before;
    double deadline;
} Resuming;

extern Tally tally;
extern Conn *conns;
extern size_t nconns, cap_conns;
extern Batch batch;
extern Resuming resuming;
extern double ack_seconds;
extern long nap_us;

double wall_now(void);
double mono_now(void);
void buf_add(Buf *b, const void *p, size_t n);
void buf_printf(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* crecv.c */
double cpu_now(void);
double sys_now(void);
void json_string(Buf *b, const char *s);
void reply(long id, const char *status, Buf *body);
void conn_close(Conn *c);
void pump(void);

/* crecv_cmd.c */
void read_commands(void);
void resume_check(double now);
void tally_reset(int sample);

/* crecv_ws.c */
void conn_send(Conn *c, const unsigned char *p, size_t n);
void conn_send_masked(Conn *c, int opcode, const unsigned char *p, size_t n);
void conn_readable(Conn *c, unsigned char **rbuf, size_t *rcap);

/* crecv_acks.c */
void conn_ack(Conn *c);
void ack_or_schedule(Conn *c);
double acks_next(void);
void acks_due(double now);
void ackq_clear(void);

/* crecv.c: what the WebSocket side tells the loop. */
void on_ready(Conn *c);
void on_fail(Conn *c, const char *reason);
void on_gone(Conn *c);
void conn_watch(Conn *c);

#endif
