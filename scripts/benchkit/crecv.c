/* crecv: the bench's load client in C (one process, many connections, one epoll loop).
 *
 * Commands arrive on stdin, one line each, "ID NAME ARGS..."; the reply is one line on
 * stdout, "ID ok JSON" or "ID err TEXT" (creceiver.py speaks it). The notification frames
 * received since the last reset are also counted into 8 bytes shared with the parent (fd
 * argv[1]), which it reads while it waits. Connections come from 127.0.{1,2}.{1..254} in
 * turn, like receiver.py's SOURCE_ADDRESSES, so ephemeral ports do not run out.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "crecv.h"

#define STDIN_TAG UINT64_MAX

Tally tally;
double ack_seconds = 1.0;
/* After a wake-up for fewer than NAP_BELOW connections, wait this long (the `nap` command)
 * before reading them, so that more arrive meanwhile: the reads take more frames each and
 * there are fewer epoll_wait calls and wake-ups. On loopback those kernel costs were most of
 * this client's CPU per notification (~4.4 of 5.3 us per-user, against ~1 us of its own),
 * and the server pays for waking it. Adds up to nap_us to a frame's latency: the throughput
 * scenarios use it, the latency ones do not. */
long nap_us = 0;
#define NAP_BELOW 64

static int ep;
Conn *conns;
size_t nconns, cap_conns;
static unsigned char *rbuf;
static size_t rcap;
Batch batch = {.id = -1};
Resuming resuming = {.id = -1};

static double clock_of(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double wall_now(void) { return clock_of(CLOCK_REALTIME); }
double mono_now(void) { return clock_of(CLOCK_MONOTONIC); }
double cpu_now(void) { return clock_of(CLOCK_PROCESS_CPUTIME_ID); }

double sys_now(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

void buf_add(Buf *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        if (b->p == NULL)
            abort();
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = 0;
}

void buf_printf(Buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    buf_add(b, tmp, n < (int)sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

void json_string(Buf *b, const char *s)
{
    buf_add(b, "\"", 1);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            buf_printf(b, "\\%c", ch);
        else if (ch < 0x20 || ch >= 0x7F)
            buf_printf(b, "\\u%04x", ch);
        else
            buf_add(b, s, 1);
    }
    buf_add(b, "\"", 1);
}

void reply(long id, const char *status, Buf *body)
{
    Buf line = {0};
    buf_printf(&line, "%ld %s ", id, status);
    buf_add(&line, body->p ? body->p : "", body->len);
    buf_add(&line, "\n", 1);
    for (size_t off = 0; off < line.len;) {
        ssize_t w = write(1, line.p + off, line.len - off);
        if (w < 0 && errno != EINTR)
            exit(1); /* the parent is gone */
        if (w > 0)
            off += (size_t)w;
    }
    free(line.p);
    free(body->p);
    *body = (Buf){0};
}

void conn_watch(Conn *c)
{
    uint32_t want = 0;
    if (!c->closed) {
        if (c->connecting || c->out_len > c->out_off)
            want |= EPOLLOUT;
        if (!c->connecting && !c->stalled)
            want |= EPOLLIN;
    }
    if (want == c->events)
        return;
    struct epoll_event ev = {.events = want, .data.u64 = (uint64_t)(c - conns)};
    epoll_ctl(ep, !c->events ? EPOLL_CTL_ADD : want ? EPOLL_CTL_MOD : EPOLL_CTL_DEL, c->fd, &ev);
    c->events = want;
}

void conn_close(Conn *c)
{
    if (c->closed)
        return;
    c->closed = 1;
    close(c->fd); /* also leaves the epoll set */
    c->events = 0;
    free(c->in);
    free(c->out);
    c->in = c->out = NULL;
    c->in_len = c->out_len = c->out_off = 0;
}

static void batch_settle(Conn *c, int ok, const char *reason);

void on_ready(Conn *c)
{
    c->ready = 1;
    batch_settle(c, 1, NULL);
}

void on_fail(Conn *c, const char *reason)
{
    batch_settle(c, 0, reason);
    conn_close(c);
}

void on_gone(Conn *c)
{
    if (!c->ready && !c->settled) {
        on_fail(c, "ConnectionError: connection lost before welcome");
        return;
    }
    if (c->upgraded && c->close_code < 0 && !c->closing)
        tally.unexpected_lost++;
    conn_close(c);
}

/* ---- connect ---------------------------------------------------------------------- */

static void start_conn(size_t i)
{
    Conn *c = &conns[i];
    char source[16];
    snprintf(source, sizeof source, "127.0.%zu.%zu", 1 + (i / 254) % 2, 1 + i % 254);
    struct sockaddr_in src = {.sin_family = AF_INET}, dst = {.sin_family = AF_INET};
    inet_pton(AF_INET, source, &src.sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    dst.sin_port = htons((uint16_t)batch.port);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    char reason[160];
    if (c->fd < 0) {
        c->closed = 1;
        snprintf(reason, sizeof reason, "OSError: [Errno %d] %s", errno, strerror(errno));
        batch_settle(c, 0, reason);
        return;
    }
    setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* as uvloop and the SDKs */
    if (bind(c->fd, (struct sockaddr *)&src, sizeof src) ||
        (connect(c->fd, (struct sockaddr *)&dst, sizeof dst) && errno != EINPROGRESS)) {
        snprintf(reason, sizeof reason, "OSError: [Errno %d] %s", errno, strerror(errno));
        on_fail(c, reason);
        return;
    }
    c->connecting = 1;
    conn_watch(c);
}

void pump(void)
{
    while (batch.id >= 0 && batch.inflight < batch.concurrency && batch.next < batch.n) {
        batch.inflight++;
        start_conn(batch.first + batch.next++);
    }
    if (batch.id >= 0 && batch.ok + batch.failed == (int)batch.n) {
        Buf b = {0};
        buf_printf(&b, "{\"cpu\":%.6f,\"ok\":%d,\"failed\":%d,\"errors\":{", cpu_now() - batch.cpu0,
                   batch.ok, batch.failed);
        for (int k = 0; k < batch.nkeys; k++) {
            buf_add(&b, k ? "," : "", k ? 1 : 0);
            json_string(&b, batch.keys[k]);
            buf_printf(&b, ":%d", batch.counts[k]);
            free(batch.keys[k]);
        }
        buf_printf(&b, "},\"t0\":%.6f,\"t1\":%.6f,\"first\":%zu}", batch.t0, wall_now(),
                   batch.first);
        long id = batch.id;
        batch.id = -1;
        reply(id, "ok", &b);
    }
}

static void batch_settle(Conn *c, int ok, const char *reason)
{
    size_t i = (size_t)(c - conns);
    if (c->settled || batch.id < 0 || i < batch.first || i >= batch.first + batch.n)
        return;
    c->settled = 1;
    if (i - batch.first < batch.next)
        batch.inflight--;
    if (ok) {
        batch.ok++;
    } else {
        batch.failed++;
        int k = 0;
        while (k < batch.nkeys && strcmp(batch.keys[k], reason))
            k++;
        if (k == batch.nkeys && k < 16) {
            batch.keys[k] = strdup(reason);
            batch.counts[batch.nkeys++] = 0;
        }
        if (k < 16)
            batch.counts[k]++;
    }
}

static void connect_timeout(void)
{
    for (size_t i = batch.first; i < batch.first + batch.n; i++) {
        if (!conns[i].settled) {
            if (i - batch.first >= batch.next) {
                batch.next++; /* never started: counted as in flight, then settled */
                batch.inflight++;
                conns[i].closed = 1;
                batch_settle(&conns[i], 0, "TimeoutError: connect phase timed out");
            } else {
                on_fail(&conns[i], "TimeoutError: connect phase timed out");
            }
        }
    }
}

static void conn_writable(Conn *c)
{
    if (c->connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            char reason[160];
            snprintf(reason, sizeof reason, "ConnectionRefusedError: [Errno %d] %s", err,
                     strerror(err));
            on_fail(c, reason);
            return;
        }
        c->connecting = 0;
    }
    while (c->out_len > c->out_off) {
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        c->out_off += (size_t)w;
    }
    if (c->out_len == c->out_off) {
        free(c->out);
        c->out = NULL;
        c->out_len = c->out_off = 0;
    }
    conn_watch(c);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: crecv SHARED_FD (driven by scripts/benchkit/creceiver.py)\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    tally.shared = mmap(NULL, 8, PROT_READ | PROT_WRITE, MAP_SHARED, atoi(argv[1]), 0);
    if (tally.shared == MAP_FAILED) {
        perror("crecv: mmap of the shared counter");
        return 2;
    }
    tally_reset(10);
    ep = epoll_create1(EPOLL_CLOEXEC);
    fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
    struct epoll_event in = {.events = EPOLLIN, .data.u64 = STDIN_TAG};
    epoll_ctl(ep, EPOLL_CTL_ADD, 0, &in);
    struct epoll_event evs[256];
    for (;;) {
        double now = mono_now(), next = acks_next();
        if (batch.id >= 0 && batch.deadline < next)
            next = batch.deadline;
        if (resuming.id >= 0 && resuming.deadline < next)
            next = resuming.deadline;
        int timeout = next == INFINITY ? -1 : next <= now ? 0 : (int)ceil((next - now) * 1000);
        int n = epoll_wait(ep, evs, 256, timeout);
        if (nap_us > 0 && n > 0 && n < NAP_BELOW) { /* let more arrive: see nap_us */
            struct timespec nap = {0, nap_us * 1000};
            nanosleep(&nap, NULL);
            n = epoll_wait(ep, evs, 256, 0);
        }
        for (int k = 0; k < n; k++) {
            if (evs[k].data.u64 == STDIN_TAG) {
                read_commands();
                continue;
            }
            Conn *c = &conns[evs[k].data.u64];
            if (c->closed)
                continue;
            if (evs[k].events & (EPOLLOUT | EPOLLERR) && (c->connecting || c->out_len))
                conn_writable(c);
            if (!c->closed && !c->connecting && evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                conn_readable(c, &rbuf, &rcap);
        }
        now = mono_now();
        acks_due(now);
        if (batch.id >= 0 && now >= batch.deadline)
            connect_timeout();
        pump();
        resume_check(now);
    }
}
