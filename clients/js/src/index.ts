/**
 * `NotificationClient`: a browser (and Node ≥ 22) client for notification-gateway.
 *
 * It connects with the user ID, the followed topics and the token; reconnects with
 * exponential backoff and full jitter; resumes from the last cursor with every topic
 * currently followed; reports `complete: false` as a `resync` event; drops duplicates by
 * cursor; pings the gateway to notice a dead line; and decides what to do on each close
 * code from one table, `CLOSE_POLICY` (policy.ts). Over WebSocket, or Server-Sent Events
 * where upgrades do not pass (`transport`: `auto` falls back by itself). Zero runtime
 * dependencies; the gateway serves this module bundled into one file at `/client.js`.
 *
 * This class runs the connection's lifecycle and turns server frames into events; the parts
 * with a job of their own live beside it: the options' defaults (settings.ts), the followed
 * topics (topics.ts), the cursor and duplicates (resume.ts), the token refresh timer
 * (token.ts), the dead-line watchdog (liveness.ts), the connection state and its events
 * (state.ts), the channel of each attempt (socket.ts for WebSocket, sse.ts for SSE) and the
 * choice between them (transport.ts).
 */

import { Acks } from "./acks.js";
import { Emitter } from "./emitter.js";
import { hookBrowser } from "./hooks.js";
import { Watchdog } from "./liveness.js";
import type { ClientEvents, ClientOptions, ConnectionState } from "./options.js";
import { WATCHDOG_CLOSE_CODE, backoffDelay, checkUrl, closeAction } from "./policy.js";
import type {
  ClientOp,
  NotificationTypes,
  ServerEvent,
  TypedNotification,
  UntypedNotifications,
} from "./protocol.js";
import { ResumePoint } from "./resume.js";
import { type Settings, settingsOf } from "./settings.js";
import type { Channel } from "./socket.js";
import { ConnectionStates, type StateDetail } from "./state.js";
import { TokenRefresher } from "./token.js";
import { Topics } from "./topics.js";
import { type Dialers, TransportChooser, type TransportKind, dial } from "./transport.js";

export type * from "./options.js";
export type * from "./protocol.js";
export { CLOSE_POLICY, SUBPROTOCOL, WATCHDOG_CLOSE_CODE, closeAction } from "./policy.js";
export type { CloseAction } from "./policy.js";
export type { TransportChoice, TransportKind } from "./transport.js";
export { sseUrl } from "./sse.js";

export class NotificationClient<Types extends NotificationTypes = UntypedNotifications> {
  readonly url: string;
  readonly userId: string;
  private readonly opts: Settings;
  private readonly getToken: (() => string | Promise<string>) | undefined;
  private readonly dialers: Dialers;
  private readonly transports: TransportChooser;
  private readonly events = new Emitter<ClientEvents<Types>>();
  private unhook: (() => void) | undefined;
  private readonly states = new ConnectionStates((change) => this.events.emit("state", change));
  private channel: Channel | undefined;
  /** Whether the current attempt reached its welcome. */
  private welcomed = false;
  /** Bumped on every attempt and on close(): async steps of an older one give up. */
  private generation = 0;
  private attempt = 0;
  private running = false;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly followed: Topics;
  private readonly resume: ResumePoint;
  private readonly tokens: TokenRefresher;
  private readonly watchdog: Watchdog;
  private readonly acks: Acks;
  /** The cursor the current attempt resumed after (undefined: from the head). */
  private resumedFrom: string | undefined;

  constructor(url: string, options: ClientOptions) {
    this.url = checkUrl(url); // a typo throws here, not in a reconnect loop
    this.userId = options.userId;
    this.followed = new Topics(options.topics ?? []);
    this.getToken = options.getToken;
    this.dialers = { Socket: options.WebSocket, fetch: options.fetch };
    this.opts = settingsOf(options);
    this.transports = new TransportChooser(this.opts.transport, this.opts.retryWebSocket);
    this.resume = new ResumePoint(options.since, this.opts.dedupSize);
    this.tokens = new TokenRefresher(this.opts.refreshBefore, () => void this.refresh());
    this.acks = new Acks(
      this.opts.acks,
      (op) => this.send(op),
      (cursor) => this.events.emit("acked", cursor),
    );
    this.watchdog = new Watchdog(
      this.opts,
      () => this.send({ op: "ping" }),
      (reason) => this.drop(WATCHDOG_CLOSE_CODE, reason),
    );
  }

  get state(): ConnectionState {
    return this.states.state;
  }

  /** The cursor to resume after: keep it to pass as `since` on the next page load. */
  get lastCursor(): string | undefined {
    return this.resume.cursor;
  }

  /** What carries the current (or last) attempt: `websocket` or `sse`. */
  get transport(): TransportKind | undefined {
    return this.channel?.kind ?? this.lastKind;
  }

  private lastKind: TransportKind | undefined;

  get topics(): string[] {
    return this.followed.list();
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
    this.followed.follow(topic);
    if (this.states.state === "connected") this.askFor(topic);
  }

  unsubscribe(topic: string): void {
    if (!this.followed.drop(topic)) return;
    if (this.states.state === "connected") this.send({ op: "unsubscribe", topic });
  }

  /**
   * Receipts: tell the gateway the person saw notification `id` (sent now, or after the
   * next connect). Counts only for a notification addressed to this user.
   */
  markRead(id: string): void {
    this.acks.markRead(id);
  }

  /** Closes with 1000 and stops reconnecting. `connect()` starts again. */
  close(): void {
    this.acks.flush(); // what the app was handed counts as delivered
    const channel = this.channel;
    this.stop();
    channel?.close(1000, "client closed");
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
    this.resumedFrom = this.acks.resumeFrom(this.resume.cursor);
    const attempt = {
      userId: this.userId,
      topics: this.followed.list(),
      since: this.resumedFrom,
      token,
      tokenIn: this.opts.tokenIn,
    };
    const kind = this.transports.next();
    let channel: Channel | undefined = undefined;
    const current = (): boolean => this.channel === channel && channel !== undefined;
    const handlers = {
      text: (text: string) => this.receive(text),
      closed: (code: number, reason: string) => this.closed(code, reason),
    };
    try {
      channel = dial(kind, this.dialers, this.url, attempt, current, handlers);
    } catch {
      // The URL was checked up front, so the token is what the constructor refused:
      // characters a JWT never has. Not quoted: the message would carry the token.
      const message = "getToken returned a token with characters a JWT never has";
      this.events.emit("error", { kind: "token", code: "unusable_token", message });
      this.retry(undefined, "unusable token");
      return;
    }
    this.channel = channel;
    this.lastKind = kind;
    this.welcomed = false;
    this.resume.opened();
    this.watchdog.opened();
    this.tokens.schedule(token);
  }

  private closed(code: number, reason: string): void {
    if (!this.welcomed && this.lastKind !== undefined) this.transports.failed(this.lastKind);
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

  /** Forgets the channel and its timers (its own handlers are silenced). */
  private detach(): void {
    const channel = this.channel;
    this.channel = undefined; // first: the channel's handlers check it
    channel?.close(1000, "client closed");
    this.acks.dropped();
    this.watchdog.stop();
    this.tokens.cancel();
    this.followed.forgetAsked();
  }

  private stop(): void {
    this.running = false;
    this.generation += 1;
    clearTimeout(this.retryTimer);
    this.detach();
    this.unhook?.();
    this.unhook = undefined;
  }

  /** Drops the current channel as if the line had broken, then reconnects. */
  private drop(code: number, reason: string): void {
    const channel = this.channel;
    if (channel === undefined) return;
    if (!this.welcomed && this.lastKind !== undefined) this.transports.failed(this.lastKind);
    this.channel = undefined;
    channel.close(WATCHDOG_CLOSE_CODE, reason);
    this.detach();
    this.retry(code, reason);
  }

  // --- receiving ---------------------------------------------------------------------------

  private receive(text: string): void {
    this.watchdog.heard();
    let event: ServerEvent;
    try {
      event = JSON.parse(text) as ServerEvent;
    } catch {
      return;
    }
    switch (event.event) {
      case "welcome":
        this.welcome(event.cursor, event.topics);
        this.acks.connected(event.receipts === true, this.resumedFrom, event.cursor);
        break;
      case "resumed":
        this.resume.resumed(event.replayed);
        if (!event.complete) this.events.emit("resync", { since: event.since, replayed: event.replayed });
        break;
      case "notification":
        this.deliver(event.cursor, event.notification as TypedNotification<Types>);
        break;
      case "subscribed":
        this.followed.answered(event.topic);
        this.events.emit("subscribed", event.topic);
        break;
      case "unsubscribed":
        // Also sent unasked, when a refreshed token no longer allows a topic.
        this.followed.drop(event.topic);
        this.events.emit("unsubscribed", event.topic);
        break;
      case "refreshed":
        this.tokens.at(event.expires_at * 1000);
        break;
      case "error":
        this.serverError(event.code, event.message, event.field);
        break;
      default:
        break; // pong, and events added after this client: liveness only
    }
  }

  /** An `error` event; a refused subscribe names its topic, which is no longer followed. */
  private serverError(code: string, message: string, field: string | undefined): void {
    const refusal = code === "forbidden_topic" || code === "too_many_topics";
    const refused = refusal ? this.followed.refused() : undefined;
    this.events.emit("error", {
      kind: "server",
      code,
      message,
      ...(field === undefined ? {} : { field }),
      ...(refused === undefined ? {} : { topic: refused }),
    });
  }

  private welcome(head: string, topics: string[]): void {
    this.resume.welcome(head);
    this.attempt = 0;
    this.welcomed = true;
    if (this.lastKind !== undefined) this.transports.connected(this.lastKind);
    // Topics followed or dropped while the upgrade was in flight.
    const { missing, extra } = this.followed.compare(topics);
    for (const topic of missing) this.askFor(topic);
    for (const topic of extra) this.send({ op: "unsubscribe", topic });
    this.watchdog.connected();
    this.setState("connected");
  }

  /** Hands a notification to the app unless it is a duplicate. */
  private deliver(cursor: string, notification: TypedNotification<Types>): void {
    if (this.resume.accept(cursor)) this.events.emit("notification", notification, cursor);
    this.acks.received(cursor); // after the app's handlers ran; duplicates are owed too
  }

  // --- tokens and topics -------------------------------------------------------------------

  /** Due before the token expires: sends a fresh one (only `notifications.v1` has the op). */
  private async refresh(): Promise<void> {
    const channel = this.channel;
    if (this.getToken === undefined || channel === undefined || !channel.refreshes) return;
    let token: string;
    try {
      token = await this.getToken();
    } catch (error) {
      this.events.emit("error", { kind: "token", code: "get_token", message: String(error) });
      return; // the 4001 close reconnects with whatever getToken gives then
    }
    if (this.channel === channel) this.send({ op: "refresh", token });
  }

  private askFor(topic: string): void {
    this.followed.asking(topic);
    this.send({ op: "subscribe", topic });
  }

  // --- plumbing ----------------------------------------------------------------------------

  private send(op: ClientOp): boolean {
    return this.channel?.send(op) ?? false;
  }

  private setState(state: ConnectionState, detail?: StateDetail): void {
    this.states.set(state, detail);
  }

  private readonly wake = (): void => {
    if (this.states.state === "disconnected" && this.running) {
      this.attempt = 0;
      clearTimeout(this.retryTimer);
      void this.open();
    } else if (this.states.state === "connected") {
      this.watchdog.check(); // timers sleep in hidden tabs: check the line now
    }
  };

  private readonly offline = (): void => {
    if (this.channel !== undefined) this.drop(1006, "offline");
  };
}
