/* crecv_acks: when the C load client acks, as the SDKs do (clients/js/src/acks.ts,
 * gateway/client/acks.py): cumulative {"op":"ack","cursor":C} frames, masked, throttled on
 * the leading edge: a notification owed when its connection sent no ack in the last
 * ack_seconds is acked at once; else one trailing ack ack_seconds after the last covers
 * everything owed by then; ACK_EVERY owed are acked at once. The bench thereby sends the
 * ack frames real clients would, which is what the gateway's receipts cost depends on.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crecv.h"

void conn_ack(Conn *c)
{
    int owed = c->owed_len;
    c->owed_len = 0;
    c->owed_count = 0;
    c->ack_due = 0.0;
    if (!owed || c->closed || c->closing)
        return;
    unsigned char payload[125];
    static const char head[] = "{\"op\":\"ack\",\"cursor\":\"";
    size_t n = sizeof head - 1;
    memcpy(payload, head, n);
    memcpy(payload + n, c->owed, (size_t)owed);
    n += (size_t)owed;
    payload[n++] = '"';
    payload[n++] = '}';
    conn_send_masked(c, 0x1, payload, n);
    c->last_ack = mono_now();
    tally.acks_sent++;
}

/* Trailing acks waiting for their time: a min-heap by due time (due = a connection's last
 * ack + ack_seconds, so not in the order they became owed). An entry whose connection has
 * acked since (ACK_EVERY, a flush) no longer matches its ack_due and is skipped. */
static struct AckDue {
    size_t index;
    double due;
} *ackq;
static size_t ackq_len, ackq_cap;

static void ackq_push(size_t index, double due)
{
    if (ackq_len == ackq_cap) {
        size_t cap = ackq_cap ? ackq_cap * 2 : 1024;
        struct AckDue *grown = realloc(ackq, cap * sizeof *ackq);
        if (grown == NULL)
            abort();
        ackq = grown;
        ackq_cap = cap;
    }
    size_t i = ackq_len++;
    while (i > 0 && ackq[(i - 1) / 2].due > due) {
        ackq[i] = ackq[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    ackq[i] = (struct AckDue){index, due};
}

static void ackq_pop(void)
{
    struct AckDue last = ackq[--ackq_len];
    if (!ackq_len)
        return;
    size_t i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= ackq_len)
            break;
        if (child + 1 < ackq_len && ackq[child + 1].due < ackq[child].due)
            child++;
        if (last.due <= ackq[child].due)
            break;
        ackq[i] = ackq[child];
        i = child;
    }
    ackq[i] = last;
}

/* The SDKs' leading-edge throttle, once a notification is owed: ack at once when this
 * connection sent none in the last ack_seconds (or ACK_EVERY are owed), else one trailing
 * ack ack_seconds after the last covers everything owed by then. */
void ack_or_schedule(Conn *c)
{
    if (c->ack_due != 0.0 && c->owed_count < ACK_EVERY)
        return; /* the trailing ack is waiting already */
    double now = mono_now();
    if (c->owed_count >= ACK_EVERY || c->last_ack == 0.0 || now - c->last_ack >= ack_seconds) {
        conn_ack(c);
        return;
    }
    c->ack_due = c->last_ack + ack_seconds;
    ackq_push((size_t)(c - conns), c->ack_due);
}

/* When the loop must wake for the next trailing ack (INFINITY: none waiting). */
double acks_next(void)
{
    return ackq_len ? ackq[0].due : INFINITY;
}

void acks_due(double now)
{
    while (ackq_len && ackq[0].due <= now) {
        size_t i = ackq[0].index;
        double due = ackq[0].due;
        ackq_pop();
        if (i < nconns && conns[i].ack_due == due) /* else acked since */
            conn_ack(&conns[i]);
    }
}

void ackq_clear(void)
{
    ackq_len = 0;
    for (size_t i = 0; i < nconns; i++)
        conns[i].ack_due = 0.0;
}
