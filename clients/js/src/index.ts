/**
 * `NotificationClient`: a browser (and Node ≥ 22) client for notification-gateway.
 *
 * It connects with the user ID, the followed topics and the token; reconnects with
 * exponential backoff and full jitter; resumes from the last cursor with every topic
 * currently followed; reports `complete: false` as a `resync` event; drops duplicates by
 * cursor; pings the gateway to notice a dead line; and decides what to do on each close
 * code from one table, `CLOSE_POLICY`. Zero runtime dependencies; this file is the whole
 * runtime (protocol.ts holds types only), so its build can be served as one ES module.
 */

import type {
  ClientOp,
  UntypedNotifications,
  NotificationTypes,
  ServerEvent,
  TypedNotification,
} from "./protocol.js";

export type * from "./protocol.js";

/** The subprotocol offered whenever a token is sent in `Sec-WebSocket-Protocol`. */
export const SUBPROTOCOL = "notifications.v1";

/**
 * What the client does when the connection closes with a code:
 * - `reconnect`: reconnect with backoff, resuming with `since`;
 * - `refresh`: get a fresh token (`getToken`), then reconnect with `since`;
 * - `stop`: stay closed (1000: closed on purpose; 4009: the backend disconnected the user);
 * - `fail`: stay closed and emit an `error`: the client broke the protocol (a bug to report).
 * Codes not listed (1005, 1006: the line dropped, the handshake failed) reconnect.
 */
export type CloseAction = "reconnect" | "refresh" | "stop" | "fail";

export const CLOSE_POLICY: Readonly<Record<number, CloseAction>> = Object.freeze({
  1000: "stop",
  1001: "reconnect",
  1002: "fail",
  1003: "fail",
  1006: "reconnect",
  1007: "fail",
  1008: "fail",
  1009: "fail",
  1011: "reconnect",
  1012: "reconnect",
  1013: "reconnect",
  4001: "refresh",
  4008: "reconnect",
  4009: "stop",
  4010: "reconnect",
});

/** The action for a close code: `CLOSE_POLICY`, or `reconnect` for codes it does not list. */
export function closeAction(code: number): CloseAction {
  return CLOSE_POLICY[code] ?? "reconnect";
}

/** The close code reported when the watchdog gives up on a silent connection or handshake. */
export const WATCHDOG_CLOSE_CODE = 4000;

export type ConnectionState = "connecting" | "connected" | "disconnected" | "closed";

export interface StateChange {
  state: ConnectionState;
  previous: ConnectionState;
  /** The close code that caused `disconnected` or `closed`, when there was one. */
  code?: number;
  reason?: string;
  /** `disconnected`: milliseconds until the next attempt. */
  delay?: number;
}

export interface ResyncInfo {
  /** The cursor the client resumed from. */
  since: string;
  /** How many missed notifications the gateway still had (they follow as `notification`s). */
  replayed: number;
}

export interface ClientError {
  /** `server`: an `error` event; `close`: closed for a client bug; `token`: getToken failed. */
  kind: "server" | "close" | "token";
  code: string | number;
  message: string;
  field?: string;
}

export interface ClientEvents<Types extends NotificationTypes> {
  notification: (notification: TypedNotification<Types>, cursor: string) => void;
  state: (change: StateChange) => void;
  resync: (info: ResyncInfo) => void;
  error: (error: ClientError) => void;
  subscribed: (topic: string) => void;
  unsubscribed: (topic: string) => void;
}

type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocket;

export interface ClientOptions {
  userId: string;
  /** Topics to follow from the start. */
  topics?: Iterable<string>;
  /** Called before every (re)connect and before the token expires. */
  getToken?: () => string | Promise<string>;
  /** `protocol` (default): `Sec-WebSocket-Protocol: notifications.v1, bearer.<jwt>`; `query`: `?token=`. */
  tokenIn?: "protocol" | "query";
  /** Resume after this cursor (one the app kept, e.g. across page loads). */
  since?: string;
  /** Backoff bounds in ms (defaults 500 and 20000). */
  minReconnectDelay?: number;
  maxReconnectDelay?: number;
  /** App-level ping every `pingInterval` ms (25000); no frame within `pongTimeout` (10000) = dead. */
  pingInterval?: number;
  pongTimeout?: number;
  /** Give up on an attempt with no `welcome` within this many ms (10000). */
  connectTimeout?: number;
  /** Refresh the token this many ms before it expires (30000). */
  refreshBefore?: number;
  /** How many recent cursors are remembered to drop duplicates (512). */
  dedupSize?: number;
  /** A WebSocket implementation (default: `globalThis.WebSocket`). */
  WebSocket?: WebSocketConstructor;
}

type Handlers<Types extends NotificationTypes> = {
  [E in keyof ClientEvents<Types>]: Set<ClientEvents<Types>[E]>;
};

const TOPIC = /^[^\s,\u0000-\u001f\u007f]{1,128}$/u;

export class NotificationClient<Types extends NotificationTypes = UntypedNotifications> {
  readonly url: string;
  readonly userId: string;
  private readonly opts: Required<
    Omit<ClientOptions, "userId" | "topics" | "getToken" | "since" | "WebSocket">
  >;
  private readonly getToken: (() => string | Promise<string>) | undefined;
  private readonly Socket: WebSocketConstructor | undefined;
  private readonly topicSet: Set<string>;
  private readonly handlers: Handlers<Types> = {
    notification: new Set(),
    state: new Set(),
    resync: new Set(),
    error: new Set(),
    subscribed: new Set(),
    unsubscribed: new Set(),
  };
  private readonly seen = new Set<string>();
  private cursor: string | undefined;
  private current: ConnectionState = "disconnected";
  private ws: WebSocket | undefined;
  /** Bumped on every attempt and on close(): async steps of an older one give up. */
  private generation = 0;
  private attempt = 0;
  private running = false;
  private resumedFrom: string | undefined;
  /** The log head the last welcome named. */
  private head: string | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private pongTimer: ReturnType<typeof setTimeout> | undefined;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(url: string, options: ClientOptions) {
    this.url = url;
    this.userId = options.userId;
    this.topicSet = new Set();
    for (const topic of options.topics ?? []) this.topicSet.add(checkTopic(topic));
    this.cursor = options.since;
    this.getToken = options.getToken;
    this.Socket = options.WebSocket;
    this.opts = {
      tokenIn: options.tokenIn ?? "protocol",
      minReconnectDelay: options.minReconnectDelay ?? 500,
      maxReconnectDelay: options.maxReconnectDelay ?? 20_000,
      pingInterval: options.pingInterval ?? 25_000,
      pongTimeout: options.pongTimeout ?? 10_000,
      connectTimeout: options.connectTimeout ?? 10_000,
      refreshBefore: options.refreshBefore ?? 30_000,
      dedupSize: options.dedupSize ?? 512,
    };
  }

  get state(): ConnectionState {
    return this.current;
  }

  /** The cursor to resume after: keep it to pass as `since` on the next page load. */
  get lastCursor(): string | undefined {
    return this.cursor;
  }

  get topics(): string[] {
    return [...this.topicSet];
  }

  /** Adds a handler; returns a function that removes it. */
  on<E extends keyof ClientEvents<Types>>(event: E, handler: ClientEvents<Types>[E]): () => void {
    this.handlers[event].add(handler);
    return () => this.off(event, handler);
  }

  off<E extends keyof ClientEvents<Types>>(event: E, handler: ClientEvents<Types>[E]): void {
    this.handlers[event].delete(handler);
  }

  /** Starts connecting (and reconnecting until `close()` or a stopping close code). */
  connect(): void {
    if (this.running) return;
    this.running = true;
    this.attempt = 0;
    this.hook(true);
    void this.open();
  }

  /** Follows a topic now and on every reconnect. */
  subscribe(topic: string): void {
    this.topicSet.add(checkTopic(topic));
    if (this.current === "connected") this.send({ op: "subscribe", topic });
  }

  unsubscribe(topic: string): void {
    if (!this.topicSet.delete(topic)) return;
    if (this.current === "connected") this.send({ op: "unsubscribe", topic });
  }

  /** Closes with 1000 and stops reconnecting. `connect()` starts again. */
  close(): void {
    const ws = this.ws;
    this.stop();
    ws?.close(1000, "client closed");
    this.setState("closed", { code: 1000 });
  }

  // --- connecting --------------------------------------------------------------------------

  private async open(): Promise<void> {
    const generation = ++this.generation;
    this.setState("connecting");
    let token: string | undefined;
    if (this.getToken !== undefined) {
      try {
        token = await this.getToken();
      } catch (error) {
        if (generation !== this.generation) return;
        this.emit("error", { kind: "token", code: "get_token", message: String(error) });
        this.retry(undefined, "getToken failed");
        return;
      }
      if (generation !== this.generation) return;
    }
    const query = new URLSearchParams({ user_id: this.userId });
    if (this.topicSet.size > 0) query.set("topics", [...this.topicSet].join(","));
    if (this.cursor !== undefined) query.set("since", this.cursor);
    if (token !== undefined && this.opts.tokenIn === "query") query.set("token", token);
    const url = this.url + (this.url.includes("?") ? "&" : "?") + query.toString();
    const Socket = this.Socket ?? globalThis.WebSocket;
    // Chromium fails a connection that offered subprotocols none of which was selected, so
    // nothing is offered without a token (a gateway without JWT need not know the name).
    const ws =
      token !== undefined && this.opts.tokenIn === "protocol"
        ? new Socket(url, [SUBPROTOCOL, "bearer." + token])
        : new Socket(url);
    this.ws = ws;
    this.resumedFrom = this.cursor;
    ws.onmessage = (message) => {
      if (this.ws === ws && typeof message.data === "string") this.receive(message.data);
    };
    ws.onclose = (event) => {
      if (this.ws === ws) this.closed(event.code, event.reason);
    };
    // An error always means a failed connection (close code 1006); some implementations
    // (Node 20's) never fire the close event that should follow it.
    ws.onerror = () => {
      if (this.ws !== ws) return;
      this.closed(1006, "connection failed");
      try {
        ws.close();
      } catch {
        // already closed
      }
    };
    // A handshake nobody answers (a gateway stopping, a proxy) must not hang the client.
    this.pongTimer = setTimeout(
      () => this.drop(WATCHDOG_CLOSE_CODE, "no welcome in time"),
      this.opts.connectTimeout,
    );
    this.scheduleRefresh(token);
  }

  private closed(code: number, reason: string): void {
    this.detach();
    const action = closeAction(code);
    if (action === "reconnect" || action === "refresh") {
      // A token just expired: the first retry goes at once (getToken runs before it).
      this.retry(code, reason, action === "refresh" && this.attempt === 0 ? 0 : undefined);
      return;
    }
    this.stop();
    if (action === "fail") {
      this.emit("error", { kind: "close", code, message: `closed with ${code}: ${reason}` });
    }
    this.setState("closed", { code, reason });
  }

  private retry(code: number | undefined, reason: string, delay = this.backoff()): void {
    this.attempt += 1;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.open(), delay);
    this.setState("disconnected", { code, reason, delay });
  }

  /**
   * Full jitter: uniform between the minimum and min × 2^(attempt+1), capped at the maximum,
   * so even the first retries after a drain's 1001 spread out instead of arriving together.
   */
  private backoff(): number {
    const { minReconnectDelay: low, maxReconnectDelay: high } = this.opts;
    const cap = Math.min(high, low * 2 ** Math.min(this.attempt + 1, 30));
    return Math.round(low + Math.random() * (cap - low));
  }

  /** Forgets the socket and its timers (the socket's own handlers are silenced). */
  private detach(): void {
    const ws = this.ws;
    if (ws !== undefined) {
      ws.onmessage = null;
      ws.onclose = null;
      ws.onerror = null;
      this.ws = undefined;
    }
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
    clearTimeout(this.refreshTimer);
    this.pingTimer = this.pongTimer = this.refreshTimer = undefined;
  }

  private stop(): void {
    this.running = false;
    this.generation += 1;
    clearTimeout(this.retryTimer);
    this.detach();
    this.hook(false);
  }

  /** Drops the current socket as if the line had broken, then reconnects. */
  private drop(code: number, reason: string): void {
    const ws = this.ws;
    if (ws === undefined) return;
    this.detach();
    try {
      ws.close(WATCHDOG_CLOSE_CODE, reason);
    } catch {
      // a socket still connecting may refuse; it is forgotten either way
    }
    this.retry(code, reason);
  }

  // --- receiving ---------------------------------------------------------------------------

  private receive(text: string): void {
    clearTimeout(this.pongTimer); // any frame proves the line is alive
    this.pongTimer = undefined;
    let event: ServerEvent;
    try {
      event = JSON.parse(text) as ServerEvent;
    } catch {
      return;
    }
    switch (event.event) {
      case "welcome":
        this.welcome(event.cursor, event.topics);
        break;
      case "resumed":
        // Nothing to replay: the head is as good a place to resume from as `since`.
        if (event.replayed === 0) this.cursor = this.head;
        if (!event.complete) this.emit("resync", { since: event.since, replayed: event.replayed });
        break;
      case "notification":
        this.deliver(event.cursor, event.notification as TypedNotification<Types>);
        break;
      case "subscribed":
        this.emit("subscribed", event.topic);
        break;
      case "unsubscribed":
        this.emit("unsubscribed", event.topic);
        break;
      case "refreshed":
        this.refreshAt(event.expires_at * 1000);
        break;
      case "error":
        this.emit("error", {
          kind: "server",
          code: event.code,
          message: event.message,
          ...(event.field === undefined ? {} : { field: event.field }),
        });
        break;
      default:
        break; // pong, and events added after this client: liveness only
    }
  }

  private welcome(head: string, topics: string[]): void {
    this.head = head;
    if (this.resumedFrom === undefined) this.cursor = head;
    this.attempt = 0;
    // Topics followed or dropped while the upgrade was in flight.
    const granted = new Set(topics);
    for (const topic of this.topicSet) {
      if (!granted.has(topic)) this.send({ op: "subscribe", topic });
    }
    for (const topic of granted) {
      if (!this.topicSet.has(topic)) this.send({ op: "unsubscribe", topic });
    }
    this.pingTimer = setInterval(() => this.ping(), this.opts.pingInterval);
    this.setState("connected");
  }

  private deliver(cursor: string, notification: TypedNotification<Types>): void {
    if (this.seen.has(cursor) || olderInSameLog(cursor, this.cursor)) return;
    this.seen.add(cursor);
    if (this.seen.size > this.opts.dedupSize) {
      const oldest = this.seen.values().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
    this.cursor = cursor;
    this.emit("notification", notification, cursor);
  }

  // --- liveness and tokens -----------------------------------------------------------------

  /** Sends `{"op":"ping"}`; a connection silent for `pongTimeout` after it is dropped. */
  private ping(): void {
    if (this.current !== "connected" || this.pongTimer !== undefined) return;
    this.send({ op: "ping" });
    this.pongTimer = setTimeout(
      () => this.drop(WATCHDOG_CLOSE_CODE, "no answer to ping"),
      this.opts.pongTimeout,
    );
  }

  private scheduleRefresh(token: string | undefined): void {
    const expires = token === undefined ? undefined : tokenExpiry(token);
    if (expires !== undefined) this.refreshAt(expires);
  }

  private refreshAt(expiresAtMs: number): void {
    clearTimeout(this.refreshTimer);
    const delay = Math.max(1_000, expiresAtMs - Date.now() - this.opts.refreshBefore);
    this.refreshTimer = setTimeout(() => void this.refresh(), delay);
  }

  /** Sends a fresh token on the open connection (only `notifications.v1` has the op). */
  private async refresh(): Promise<void> {
    const ws = this.ws;
    if (this.getToken === undefined || ws === undefined || ws.protocol !== SUBPROTOCOL) return;
    let token: string;
    try {
      token = await this.getToken();
    } catch (error) {
      this.emit("error", { kind: "token", code: "get_token", message: String(error) });
      return; // the 4001 close reconnects with whatever getToken gives then
    }
    if (this.ws === ws) this.send({ op: "refresh", token });
  }

  // --- plumbing ----------------------------------------------------------------------------

  private send(op: ClientOp): void {
    if (this.ws?.readyState === 1) this.ws.send(JSON.stringify(op));
  }

  private setState(
    state: ConnectionState,
    detail: { code?: number | undefined; reason?: string; delay?: number } = {},
  ): void {
    const previous = this.current;
    if (state === previous && state !== "disconnected") return;
    this.current = state;
    const change: StateChange = { state, previous };
    if (detail.code !== undefined) change.code = detail.code;
    if (detail.reason !== undefined) change.reason = detail.reason;
    if (detail.delay !== undefined) change.delay = detail.delay;
    this.emit("state", change);
  }

  private emit<E extends keyof ClientEvents<Types>>(
    event: E,
    ...args: Parameters<ClientEvents<Types>[E]>
  ): void {
    for (const handler of this.handlers[event]) {
      try {
        (handler as (...a: typeof args) => void)(...args);
      } catch (error) {
        // An app's handler must not break the connection; the error still surfaces.
        setTimeout(() => {
          throw error;
        });
      }
    }
  }

  private readonly wake = (): void => {
    if (this.current === "disconnected" && this.running) {
      this.attempt = 0;
      clearTimeout(this.retryTimer);
      void this.open();
    } else if (this.current === "connected") {
      this.ping(); // timers sleep in hidden tabs: check the line now
    }
  };

  private readonly offline = (): void => {
    if (this.ws !== undefined) this.drop(1006, "offline");
  };

  private readonly visible = (): void => {
    if (globalThis.document?.visibilityState === "visible") this.wake();
  };

  /** Browser hooks: online/offline and page visibility (absent in Node: skipped). */
  private hook(on: boolean): void {
    const target = globalThis as unknown as Partial<EventTarget>;
    const doc = globalThis.document as Document | undefined;
    const method = on ? "addEventListener" : "removeEventListener";
    if (typeof target[method] === "function") {
      target[method]("online", this.wake);
      target[method]("offline", this.offline);
    }
    if (doc !== undefined && typeof doc[method] === "function") {
      doc[method]("visibilitychange", this.visible);
    }
  }
}

function checkTopic(topic: string): string {
  if (!TOPIC.test(topic)) {
    throw new TypeError(`topic: 1-128 characters without whitespace, commas or controls`);
  }
  return topic;
}

/**
 * Whether `cursor` comes before `last` in the same log. Cursors are `<log>-<seq>`: only
 * cursors of one log (same prefix) are comparable; others are left to the seen-set.
 */
function olderInSameLog(cursor: string, last: string | undefined): boolean {
  if (last === undefined) return false;
  const a = cursor.lastIndexOf("-");
  const b = last.lastIndexOf("-");
  if (a < 0 || b < 0 || cursor.slice(0, a) !== last.slice(0, b)) return false;
  const seq = cursor.slice(a + 1);
  const lastSeq = last.slice(b + 1);
  if (!/^\d+$/.test(seq) || !/^\d+$/.test(lastSeq)) return false;
  return seq.length < lastSeq.length || (seq.length === lastSeq.length && seq <= lastSeq);
}

/** The `exp` of a JWT in ms, or undefined when it has none or is not a JWT. */
function tokenExpiry(token: string): number | undefined {
  try {
    const part = token.split(".")[1] ?? "";
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    return typeof exp === "number" ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}
