/**
 * `Watchdog`: notices a dead line on one connection. A socket just opened must send its
 * first frame (the welcome) within `connectTimeout`; once connected, a ping goes out every
 * `pingInterval`, and a ping followed by no frame at all within `pongTimeout` means the line
 * is dead. Any frame proves the line alive. `dead(reason)` is called once per deadline
 * missed; the client drops the socket and reconnects. `stop()` clears every timer.
 */

export interface WatchdogTimes {
  pingInterval: number;
  pongTimeout: number;
  connectTimeout: number;
}

export class Watchdog {
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private pongTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly times: WatchdogTimes,
    private readonly sendPing: () => void,
    private readonly dead: (reason: string) => void,
  ) {}

  /** A socket opened: a handshake nobody answers (a proxy, a gateway stopping) must not hang. */
  opened(): void {
    this.pongTimer = setTimeout(() => this.dead("no welcome in time"), this.times.connectTimeout);
  }

  /** Any frame arrived. */
  heard(): void {
    clearTimeout(this.pongTimer);
    this.pongTimer = undefined;
  }

  /** The welcome arrived: ping from now on. */
  connected(): void {
    this.pingTimer = setInterval(() => this.check(), this.times.pingInterval);
  }

  /** Pings now, unless a ping is still unanswered; only between `connected()` and `stop()`. */
  check(): void {
    if (this.pingTimer === undefined || this.pongTimer !== undefined) return;
    this.sendPing();
    this.pongTimer = setTimeout(() => this.dead("no answer to ping"), this.times.pongTimeout);
  }

  stop(): void {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
    this.pingTimer = this.pongTimer = undefined;
  }
}
