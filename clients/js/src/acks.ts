/**
 * `Acks`: the client's side of delivery receipts. Once a notification was handed to the
 * app (or recognised as one handed over before), its cursor is owed an `ack`; acks are
 * cumulative, so one `{"op":"ack","cursor":C}` covers everything up to C. They are sent
 * only to a gateway whose welcome said `receipts: true`, throttled on the leading edge:
 * a notification handed over when no ack went out in the last `interval` ms is acked at
 * once; else one ack covering everything owed goes out `interval` ms after the last one,
 * or at once when `every` are owed. Why leading: a person's notifications are sparse
 * (minutes apart), so each is acked as soon as the app has it, and the gateway's
 * publish-to-ack histogram measures the latency a person sees, not a coalescing wait;
 * a burst to one user still costs the gateway at most one ack per `interval` (each ack
 * frame is a read and a wake-up on the server).
 *
 * An ack counts only on the connection the notification came over, so what was received
 * but not acked when a socket dropped is asked for again: `resumeFrom()` is the last point
 * this client acked (or its connection started after), and the replay of what follows it
 * is acked on the new connection (the app does not see it twice: ResumePoint drops it).
 *
 * `markRead(id)` sends `{"op":"read","id":ID}` at once when it can, else after the next
 * welcome (at most `MAX_QUEUED_READS` wait; the oldest are dropped).
 */

import type { ClientOp } from "./protocol.js";

export interface AckTimes {
  /** Fewest ms between two acks on a connection, unless `every` are owed (1000). */
  interval: number;
  /** Most notifications one ack waits for (100). */
  every: number;
}

const MAX_QUEUED_READS = 100;

export class Acks {
  /** Whether the current connection's gateway applies receipts. */
  private on = false;
  /** The highest cursor received on this connection and not acked yet. */
  private owed: string | undefined;
  private count = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** When this connection last sent an ack (performance.now() ms); undefined: never. */
  private lastAck: number | undefined;
  /** The last cursor acked, or the one the current connection started after. */
  private safe: string | undefined;
  /** Set when a socket dropped owing acks: the next one resumes after `safe` instead. */
  private rewind: string | undefined;
  private readonly reads: string[] = [];

  constructor(
    private readonly times: AckTimes | undefined,
    private readonly send: (op: ClientOp) => boolean,
    private readonly acked: (cursor: string) => void,
  ) {}

  /** A connection's welcome: it resumes after `from` (or starts at `head`). */
  connected(receipts: boolean, from: string | undefined, head: string): void {
    this.on = receipts;
    this.safe = from ?? head;
    this.rewind = undefined;
    this.lastAck = undefined; // the throttle is per connection: a new one acks at once
    if (!receipts) return;
    for (const id of this.reads.splice(0)) this.send({ op: "read", id });
  }

  /** A notification frame arrived on this connection (new or a duplicate). */
  received(cursor: string): void {
    if (!this.on || this.times === undefined) return;
    this.owed = cursor;
    this.count += 1;
    if (this.timer !== undefined && this.count < this.times.every) return; // one is due
    const since = this.lastAck === undefined ? Infinity : performance.now() - this.lastAck;
    if (since >= this.times.interval || this.count >= this.times.every) this.flush();
    else this.timer = setTimeout(() => this.flush(), this.times.interval - since);
  }

  /** Sends what is owed now (also on a clean close, so nothing stays pending). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.count = 0;
    const cursor = this.owed;
    if (cursor === undefined) return;
    this.owed = undefined;
    if (this.send({ op: "ack", cursor })) {
      this.lastAck = performance.now();
      this.safe = cursor;
      this.acked(cursor);
    }
  }

  /** The socket is gone: what it owed can only be acked on the next one, after a replay. */
  dropped(): void {
    if (this.on && this.owed !== undefined) this.rewind = this.safe;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.owed = undefined;
    this.count = 0;
    this.on = false;
  }

  /** Where the next connection should resume after so that nothing owed goes unacked. */
  resumeFrom(cursor: string | undefined): string | undefined {
    return this.rewind ?? cursor;
  }

  markRead(id: string): void {
    if (this.on && this.send({ op: "read", id })) return;
    this.reads.push(id);
    if (this.reads.length > MAX_QUEUED_READS) this.reads.shift();
  }
}
