/* crecv_cmd: the commands of the C load client, read from stdin, as receiver.py's Receiver
 * obeys them: connect, reset, acks, flush_acks, stall, resume, report, close, exit; and
 * nap (this client's only own: see nap_us in crecv.c).
 *
 * One line each, "ID NAME ARGS..."; connect's specs are "USER\tTOPICS" separated by spaces
 * (neither may hold whitespace: both go into the request line as they are).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crecv.h"

static const char HANDSHAKE[] = "GET /ws?user_id=%s%s%s HTTP/1.1\r\n"
                                "Host: 127.0.0.1:%d\r\n"
                                "Upgrade: websocket\r\n"
                                "Connection: Upgrade\r\n"
                                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                "Sec-WebSocket-Version: 13\r\n"
                                "\r\n";

void tally_reset(int sample)
{
    tally.sample = sample < 1 ? 1 : sample;
    tally.frames = 0;
    tally.first_rx = tally.last_rx = 0.0;
    tally.nlat = 0;
    tally.order_errors = tally.bad_samples = tally.unexpected_lost = tally.acks_sent = 0;
    tally.ncodes = 0;
    tally.cpu_mark = cpu_now();
    tally.sys_mark = sys_now();
    *tally.shared = 0;
}

static void cmd_connect(long id, char *args)
{
    int port, concurrency, welcome, used = 0;
    double budget;
    if (sscanf(args, "%d %d %lf %d %n", &port, &concurrency, &budget, &welcome, &used) < 4) {
        Buf b = {0};
        json_string(&b, "connect: PORT CONCURRENCY BUDGET WELCOME SPEC...");
        reply(id, "err", &b);
        return;
    }
    size_t first = nconns;
    for (char *spec = strtok(args + used, " "); spec; spec = strtok(NULL, " ")) {
        char *topics = strchr(spec, '\t');
        if (topics)
            *topics++ = 0;
        if (nconns == cap_conns) {
            cap_conns = cap_conns ? cap_conns * 2 : 1024;
            conns = realloc(conns, cap_conns * sizeof(Conn));
            if (conns == NULL)
                abort();
        }
        Conn *c = &conns[nconns++];
        *c = (Conn){.fd = -1, .close_code = -1, .welcome = (unsigned char)(welcome != 0)};
        int has = topics && *topics;
        int n = snprintf(NULL, 0, HANDSHAKE, spec, has ? "&topics=" : "", has ? topics : "", port);
        c->out = malloc((size_t)n + 1);
        if (c->out == NULL)
            abort();
        snprintf((char *)c->out, (size_t)n + 1, HANDSHAKE, spec, has ? "&topics=" : "",
                 has ? topics : "", port);
        c->out_len = (size_t)n;
    }
    batch = (Batch){.id = id, .first = first, .n = nconns - first, .port = port};
    batch.concurrency = concurrency < 1 ? 1 : concurrency;
    batch.deadline = mono_now() + budget;
    batch.t0 = wall_now();
    batch.cpu0 = cpu_now();
    pump();
}

static void cmd_report(long id)
{
    Buf b = {0};
    buf_add(&b, "{\"counts\":[", 11);
    for (size_t i = 0; i < nconns; i++)
        buf_printf(&b, i ? ",%lld" : "%lld", (long long)conns[i].count);
    buf_printf(&b, "],\"frames\":%lld,\"first_rx\":%.6f,\"last_rx\":%.6f,\"lat\":[",
               (long long)tally.frames, tally.first_rx, tally.last_rx);
    for (size_t i = 0; i < tally.nlat; i++)
        buf_printf(&b, i ? ",%.4f" : "%.4f", tally.lat[i]);
    buf_printf(&b, "],\"order_errors\":%lld,\"bad_samples\":%lld,\"unexpected_lost\":%lld,",
               (long long)tally.order_errors, (long long)tally.bad_samples,
               (long long)tally.unexpected_lost);
    buf_printf(&b, "\"acks_sent\":%lld,\"close_codes\":{", (long long)tally.acks_sent);
    for (int i = 0; i < tally.ncodes; i++)
        buf_printf(&b, i ? ",\"%d\":%d" : "\"%d\":%d", tally.codes[i][0], tally.codes[i][1]);
    buf_printf(&b, "},\"cpu\":%.6f,\"sys\":%.6f}", cpu_now() - tally.cpu_mark,
               sys_now() - tally.sys_mark);
    reply(id, "ok", &b);
}

static int cmd_close(void)
{
    int n = (int)nconns;
    for (size_t i = 0; i < nconns; i++) {
        conns[i].closing = 1;
        conn_close(&conns[i]);
        free(conns[i].last);
    }
    nconns = 0;
    ackq_clear();
    return n;
}

void resume_check(double now)
{
    if (resuming.id < 0)
        return;
    Conn *c = resuming.index < nconns ? &conns[resuming.index] : NULL;
    if (c != NULL && !c->closed && now < resuming.deadline)
        return;
    Buf b = {0};
    if (c == NULL || c->close_code < 0)
        buf_add(&b, "{\"close_code\":null", 18);
    else
        buf_printf(&b, "{\"close_code\":%d", c->close_code);
    buf_printf(&b, ",\"ended\":%s,\"frames_before\":%lld,\"frames_after_resume\":%lld}",
               c == NULL || c->closed ? "true" : "false", (long long)resuming.before,
               (long long)((c ? c->count : 0) - resuming.before));
    long id = resuming.id;
    resuming.id = -1;
    reply(id, "ok", &b);
}

static void command(char *line)
{
    char *name, *args, *end;
    long id = strtol(line, &end, 10);
    Buf b = {0};
    name = strtok_r(end, " ", &args);
    if (name == NULL || end == line) {
        json_string(&b, "a command is: ID NAME ARGS...");
        reply(id, "err", &b);
        return;
    }
    if (!strcmp(name, "connect")) {
        cmd_connect(id, args);
        return;
    } else if (!strcmp(name, "report")) {
        cmd_report(id);
        return;
    } else if (!strcmp(name, "reset")) {
        tally_reset(atoi(args));
        for (size_t i = 0; i < nconns; i++) {
            conns[i].count = 0;
            conns[i].nlast = 0;
        }
    } else if (!strcmp(name, "acks")) {
        int on = 0;
        if (sscanf(args, "%d %lf", &on, &ack_seconds) != 2)
            ack_seconds = 1.0;
        ackq_clear();
        for (size_t i = 0; i < nconns; i++) {
            conns[i].acks = (unsigned char)(on != 0);
            if (on && conns[i].owed_len)
                ack_or_schedule(&conns[i]);
        }
    } else if (!strcmp(name, "nap")) {
        long us = atol(args);
        nap_us = us < 0 ? 0 : us > 100000 ? 100000 : us;
    } else if (!strcmp(name, "flush_acks")) { /* replies: ack frames sent since the reset */
        for (size_t i = 0; i < nconns; i++)
            conn_ack(&conns[i]);
        ackq_clear();
        buf_printf(&b, "%lld", (long long)tally.acks_sent);
        reply(id, "ok", &b);
        return;
    } else if (!strcmp(name, "stall") || !strcmp(name, "resume")) {
        size_t i = (size_t)atol(args);
        if (i >= nconns) {
            json_string(&b, "no such connection");
            reply(id, "err", &b);
            return;
        }
        conns[i].stalled = name[0] == 's';
        if (!conns[i].closed)
            conn_watch(&conns[i]);
        if (name[0] == 'r') {
            char *wait = strchr(args, ' ');
            resuming = (Resuming){id, i, conns[i].count, mono_now() + (wait ? atof(wait) : 10.0)};
            resume_check(mono_now());
            return;
        }
    } else if (!strcmp(name, "close") || !strcmp(name, "exit")) {
        int n = cmd_close();
        if (name[0] == 'c') {
            buf_printf(&b, "%d", n);
            reply(id, "ok", &b);
            return;
        }
        buf_add(&b, "null", 4);
        reply(id, "ok", &b);
        exit(0);
    } else {
        json_string(&b, "unknown command");
        reply(id, "err", &b);
        return;
    }
    buf_add(&b, "null", 4);
    reply(id, "ok", &b);
}

void read_commands(void)
{
    static Buf in;
    char chunk[65536];
    for (;;) {
        ssize_t n = read(0, chunk, sizeof chunk);
        if (n == 0)
            exit(0); /* the parent is gone */
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            exit(1);
        }
        buf_add(&in, chunk, (size_t)n);
    }
    if (!in.len)
        return;
    size_t done = 0;
    for (char *nl; (nl = memchr(in.p + done, '\n', in.len - done)) != NULL;) {
        *nl = 0;
        command(in.p + done);
        done = (size_t)(nl - in.p) + 1;
    }
    memmove(in.p, in.p + done, in.len - done);
    in.len -= done;
}
