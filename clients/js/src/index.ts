/**
 * `NotificationClient`: a browser (and Node ≥ 22) client for notification-gateway.
 *
 * It connects with the user ID, the followed topics and the token; reconnects with
 * exponential backoff and full jitter; resumes from the last cursor with every topic
 * currently followed; reports `complete: false` as a `resync` event; drops duplicates by
 * cursor; pings the gateway to notice a dead line; and decides what to do on each close
 * code from one table, `CLOSE_POLICY` (policy.ts). Zero runtime dependencies; the gateway
 * serves this module bundled into one file at `/client.js`.
 */

import { Emitter } from "./emitter.js";
import { hookBrowser } from "./hooks.js";
import type {
  ClientEvents,
  ClientOptions,
  ConnectionState,
  StateChange,
  WebSocketConstructor,
} from "./options.js";
import {
  SUBPROTOCOL,
  WATCHDOG_CLOSE_CODE,
  backoffDelay,
  checkTopic,
  checkUrl,
  closeAction,
  olderInSameLog,
  tokenExpiry,
} from "./policy.js";
import type {
  ClientOp,
  NotificationTypes,
  ServerEvent,
  TypedNotification,
  UntypedNotifications,
} from "./protocol.js";

export type * from "./options.js";
export type * from "./protocol.js";
export { CLOSE_POLICY, SUBPROTOCOL, WATCHDOG_CLOSE_CODE, closeAction } from "./policy.js";
export type { CloseAction } from "./policy.js";

/** The longest delay setTimeout honours. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class NotificationClient<Types extends NotificationTypes = UntypedNotifications> {
  readonly url: string;
  readonly userId: string;
  private readonly opts: Required<
    Omit<ClientOptions, "userId" | "topics" | "getToken" | "since" | "WebSocket">
  >;
  private readonly getToken: (() => string | Promise<string>) | undefined;
  private readonly Socket: WebSocketConstructor | undefined;
  private readonly topicSet: Set<string>;
  private readonly events = new Emitter<ClientEvents<Types>>();
  private unhook: (() => void) | undefined;
  private readonly seen = new Set<string>();
  /** Subscribe ops sent and not yet answered, oldest first. */
  private asked: string[] = [];
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
    this.url = checkUrl(url); // a typo throws here, not in a reconnect loop
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
    return this.events.on(event, handler);
  }

  off<E extends keyof ClientEvents<Types>>(event: E, handler: ClientEvents<Types>[E]): void {
    this.events.off(event, handler);
  }

  /** Starts connecting (and reconnecting until `close()` or a stopping close code). */
  connect(): void {
    if (this.running) return;
    this.running = true;
    this.attempt = 0;
    this.unhook = hookBrowser({ wake: this.wake, offline: this.offline });
    void this.open();
  }

  /** Follows a topic now and on every reconnect. */
  subscribe(topic: string): void {
    this.topicSet.add(checkTopic(topic));
    if (this.current === "connected") this.askFor(topic);
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
        this.events.emit("error", { kind: "token", code: "get_token", message: String(error) });
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
    let ws: WebSocket;
    try {
      ws =
        token !== undefined && this.opts.tokenIn === "protocol"
          ? new Socket(url, [SUBPROTOCOL, "bearer." + token])
          : new Socket(url);
    } catch {
      // The URL was checked up front, so the token is what the constructor refused:
      // characters a JWT never has. Not quoted: the message would carry the token.
      const message = "getToken returned a token with characters a JWT never has";
      this.events.emit("error", { kind: "token", code: "unusable_token", message });
      this.retry(undefined, "unusable token");
      return;
    }
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
      this.events.emit("error", { kind: "close", code, message: `closed with ${code}: ${reason}` });
    }
    this.setState("closed", { code, reason });
  }

  private retry(code: number | undefined, reason: string, delay = this.backoff()): void {
    this.attempt += 1;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.open(), delay);
    this.setState("disconnected", { code, reason, delay });
  }

  private backoff(): number {
    return backoffDelay(this.attempt, this.opts.minReconnectDelay, this.opts.maxReconnectDelay);
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
    this.asked = [];
  }

  private stop(): void {
    this.running = false;
    this.generation += 1;
    clearTimeout(this.retryTimer);
    this.detach();
    this.unhook?.();
    this.unhook = undefined;
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
        if (!event.complete) this.events.emit("resync", { since: event.since, replayed: event.replayed });
        break;
      case "notification":
        this.deliver(event.cursor, event.notification as TypedNotification<Types>);
        break;
      case "subscribed":
        this.answered(event.topic);
        this.events.emit("subscribed", event.topic);
        break;
      case "unsubscribed":
        // Also sent unasked, when a refreshed token no longer allows a topic.
        this.topicSet.delete(event.topic);
        this.events.emit("unsubscribed", event.topic);
        break;
      case "refreshed":
        this.refreshAt(event.expires_at * 1000);
        break;
      case "error":
        this.serverError(event.code, event.message, event.field);
        break;
      default:
        break; // pong, and events added after this client: liveness only
    }
  }

  /**
   * An `error` event. Ops are answered in order, so a refused subscribe (not allowed by the
   * token, or one topic too many) is the oldest one unanswered: that topic is dropped, or
   * every reconnect would ask for it again and be refused.
   */
  private serverError(code: string, message: string, field: string | undefined): void {
    const refused =
      code === "forbidden_topic" || code === "too_many_topics" ? this.asked.shift() : undefined;
    if (refused !== undefined) this.topicSet.delete(refused);
    this.events.emit("error", {
      kind: "server",
      code,
      message,
      ...(field === undefined ? {} : { field }),
      ...(refused === undefined ? {} : { topic: refused }),
    });
  }

  private welcome(head: string, topics: string[]): void {
    this.head = head;
    if (this.resumedFrom === undefined) this.cursor = head;
    this.attempt = 0;
    // Topics followed or dropped while the upgrade was in flight.
    const granted = new Set(topics);
    for (const topic of this.topicSet) {
      if (!granted.has(topic)) this.askFor(topic);
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
    this.events.emit("notification", notification, cursor);
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
    // setTimeout fires at once for a delay over 2^31 - 1 ms (24.8 days): a token valid
    // longer would be refreshed in a loop. Such a wait is taken in steps.
    this.refreshTimer =
      delay > MAX_TIMER_MS
        ? setTimeout(() => this.refreshAt(expiresAtMs), MAX_TIMER_MS)
        : setTimeout(() => void this.refresh(), delay);
  }

  /** Sends a fresh token on the open connection (only `notifications.v1` has the op). */
  private async refresh(): Promise<void> {
    const ws = this.ws;
    if (this.getToken === undefined || ws === undefined || ws.protocol !== SUBPROTOCOL) return;
    let token: string;
    try {
      token = await this.getToken();
    } catch (error) {
      this.events.emit("error", { kind: "token", code: "get_token", message: String(error) });
      return; // the 4001 close reconnects with whatever getToken gives then
    }
    if (this.ws === ws) this.send({ op: "refresh", token });
  }

  private answered(topic: string): void {
    const index = this.asked.indexOf(topic);
    if (index >= 0) this.asked.splice(index, 1);
  }

  private askFor(topic: string): void {
    this.asked.push(topic);
    this.send({ op: "subscribe", topic });
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
    this.events.emit("state", change);
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
}
