// @notification-gateway/client, built from clients/js by `npm run build`: do not edit.
// sources-sha256: 3c2807a06e9d549bd212758cf8e36c4a49ea36ab28ff97bbb6e97451fc9748a8
// dist/emitter.js
var Emitter = class {
  handlers = /* @__PURE__ */ new Map();
  /** Adds a handler; returns a function that removes it. */
  on(event, handler) {
    let set = this.handlers.get(event);
    if (set === void 0)
      this.handlers.set(event, set = /* @__PURE__ */ new Set());
    set.add(handler);
    return () => this.off(event, handler);
  }
  off(event, handler) {
    this.handlers.get(event)?.delete(handler);
  }
  emit(event, ...args) {
    for (const handler of this.handlers.get(event) ?? []) {
      try {
        handler(...args);
      } catch (error) {
        setTimeout(() => {
          throw error;
        });
      }
    }
  }
};

// dist/hooks.js
function hookBrowser(handlers) {
  const target = globalThis;
  const doc = globalThis.document;
  const visible = () => {
    if (doc?.visibilityState === "visible")
      handlers.wake();
  };
  const toggle = (method) => {
    if (typeof target[method] === "function") {
      target[method]("online", handlers.wake);
      target[method]("offline", handlers.offline);
    }
    if (doc !== void 0 && typeof doc[method] === "function") {
      doc[method]("visibilitychange", visible);
    }
  };
  toggle("addEventListener");
  return () => toggle("removeEventListener");
}

// dist/policy.js
var SUBPROTOCOL = "notifications.v1";
var CLOSE_POLICY = Object.freeze({
  1e3: "stop",
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
  4010: "reconnect"
});
function closeAction(code) {
  return CLOSE_POLICY[code] ?? "reconnect";
}
var WATCHDOG_CLOSE_CODE = 4e3;
function backoffDelay(attempt, low, high) {
  const cap = Math.min(high, low * 2 ** Math.min(attempt + 1, 30));
  return Math.round(low + Math.random() * (cap - low));
}
var TOPIC = /^[^\s,\u0000-\u001f\u007f]{1,128}$/u;
function checkUrl(url) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    parsed = void 0;
  }
  if (parsed === void 0 || !/^(wss?|https?):$/.test(parsed.protocol) || parsed.host === "") {
    const shown = JSON.stringify(url);
    throw new TypeError(`url: ws://, wss://, http:// or https:// with a host, not ${shown}`);
  }
  return url;
}
function checkTopic(topic) {
  if (!TOPIC.test(topic)) {
    throw new TypeError(`topic: 1-128 characters without whitespace, commas or controls`);
  }
  return topic;
}
function olderInSameLog(cursor, last) {
  if (last === void 0)
    return false;
  const a = cursor.lastIndexOf("-");
  const b = last.lastIndexOf("-");
  if (a < 0 || b < 0 || cursor.slice(0, a) !== last.slice(0, b))
    return false;
  const seq = cursor.slice(a + 1);
  const lastSeq = last.slice(b + 1);
  if (!/^\d+$/.test(seq) || !/^\d+$/.test(lastSeq))
    return false;
  return seq.length < lastSeq.length || seq.length === lastSeq.length && seq <= lastSeq;
}
function tokenExpiry(token) {
  try {
    const part = token.split(".")[1] ?? "";
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
    const exp = JSON.parse(json).exp;
    return typeof exp === "number" ? exp * 1e3 : void 0;
  } catch {
    return void 0;
  }
}

// dist/index.js
var MAX_TIMER_MS = 2 ** 31 - 1;
var NotificationClient = class {
  url;
  userId;
  opts;
  getToken;
  Socket;
  topicSet;
  events = new Emitter();
  unhook;
  seen = /* @__PURE__ */ new Set();
  /** Subscribe ops sent and not yet answered, oldest first. */
  asked = [];
  cursor;
  current = "disconnected";
  ws;
  /** Bumped on every attempt and on close(): async steps of an older one give up. */
  generation = 0;
  attempt = 0;
  running = false;
  resumedFrom;
  /** The log head the last welcome named. */
  head;
  retryTimer;
  pingTimer;
  pongTimer;
  refreshTimer;
  constructor(url, options) {
    this.url = checkUrl(url);
    this.userId = options.userId;
    this.topicSet = /* @__PURE__ */ new Set();
    for (const topic of options.topics ?? [])
      this.topicSet.add(checkTopic(topic));
    this.cursor = options.since;
    this.getToken = options.getToken;
    this.Socket = options.WebSocket;
    this.opts = {
      tokenIn: options.tokenIn ?? "protocol",
      minReconnectDelay: options.minReconnectDelay ?? 500,
      maxReconnectDelay: options.maxReconnectDelay ?? 2e4,
      pingInterval: options.pingInterval ?? 25e3,
      pongTimeout: options.pongTimeout ?? 1e4,
      connectTimeout: options.connectTimeout ?? 1e4,
      refreshBefore: options.refreshBefore ?? 3e4,
      dedupSize: options.dedupSize ?? 512
    };
  }
  get state() {
    return this.current;
  }
  /** The cursor to resume after: keep it to pass as `since` on the next page load. */
  get lastCursor() {
    return this.cursor;
  }
  get topics() {
    return [...this.topicSet];
  }
  /** Adds a handler; returns a function that removes it. */
  on(event, handler) {
    return this.events.on(event, handler);
  }
  off(event, handler) {
    this.events.off(event, handler);
  }
  /** Starts connecting (and reconnecting until `close()` or a stopping close code). */
  connect() {
    if (this.running)
      return;
    this.running = true;
    this.attempt = 0;
    this.unhook = hookBrowser({ wake: this.wake, offline: this.offline });
    void this.open();
  }
  /** Follows a topic now and on every reconnect. */
  subscribe(topic) {
    this.topicSet.add(checkTopic(topic));
    if (this.current === "connected")
      this.askFor(topic);
  }
  unsubscribe(topic) {
    if (!this.topicSet.delete(topic))
      return;
    if (this.current === "connected")
      this.send({ op: "unsubscribe", topic });
  }
  /** Closes with 1000 and stops reconnecting. `connect()` starts again. */
  close() {
    const ws = this.ws;
    this.stop();
    ws?.close(1e3, "client closed");
    this.setState("closed", { code: 1e3 });
  }
  // --- connecting --------------------------------------------------------------------------
  async open() {
    const generation = ++this.generation;
    this.setState("connecting");
    let token;
    if (this.getToken !== void 0) {
      try {
        token = await this.getToken();
      } catch (error) {
        if (generation !== this.generation)
          return;
        this.events.emit("error", { kind: "token", code: "get_token", message: String(error) });
        this.retry(void 0, "getToken failed");
        return;
      }
      if (generation !== this.generation)
        return;
    }
    const query = new URLSearchParams({ user_id: this.userId });
    if (this.topicSet.size > 0)
      query.set("topics", [...this.topicSet].join(","));
    if (this.cursor !== void 0)
      query.set("since", this.cursor);
    if (token !== void 0 && this.opts.tokenIn === "query")
      query.set("token", token);
    const url = this.url + (this.url.includes("?") ? "&" : "?") + query.toString();
    const Socket = this.Socket ?? globalThis.WebSocket;
    let ws;
    try {
      ws = token !== void 0 && this.opts.tokenIn === "protocol" ? new Socket(url, [SUBPROTOCOL, "bearer." + token]) : new Socket(url);
    } catch {
      const message = "getToken returned a token with characters a JWT never has";
      this.events.emit("error", { kind: "token", code: "unusable_token", message });
      this.retry(void 0, "unusable token");
      return;
    }
    this.ws = ws;
    this.resumedFrom = this.cursor;
    ws.onmessage = (message) => {
      if (this.ws === ws && typeof message.data === "string")
        this.receive(message.data);
    };
    ws.onclose = (event) => {
      if (this.ws === ws)
        this.closed(event.code, event.reason);
    };
    ws.onerror = () => {
      if (this.ws !== ws)
        return;
      this.closed(1006, "connection failed");
      try {
        ws.close();
      } catch {
      }
    };
    this.pongTimer = setTimeout(() => this.drop(WATCHDOG_CLOSE_CODE, "no welcome in time"), this.opts.connectTimeout);
    this.scheduleRefresh(token);
  }
  closed(code, reason) {
    this.detach();
    const action = closeAction(code);
    if (action === "reconnect" || action === "refresh") {
      this.retry(code, reason, action === "refresh" && this.attempt === 0 ? 0 : void 0);
      return;
    }
    this.stop();
    if (action === "fail") {
      this.events.emit("error", { kind: "close", code, message: `closed with ${code}: ${reason}` });
    }
    this.setState("closed", { code, reason });
  }
  retry(code, reason, delay = this.backoff()) {
    this.attempt += 1;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.open(), delay);
    this.setState("disconnected", { code, reason, delay });
  }
  backoff() {
    return backoffDelay(this.attempt, this.opts.minReconnectDelay, this.opts.maxReconnectDelay);
  }
  /** Forgets the socket and its timers (the socket's own handlers are silenced). */
  detach() {
    const ws = this.ws;
    if (ws !== void 0) {
      ws.onmessage = null;
      ws.onclose = null;
      ws.onerror = null;
      this.ws = void 0;
    }
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
    clearTimeout(this.refreshTimer);
    this.pingTimer = this.pongTimer = this.refreshTimer = void 0;
    this.asked = [];
  }
  stop() {
    this.running = false;
    this.generation += 1;
    clearTimeout(this.retryTimer);
    this.detach();
    this.unhook?.();
    this.unhook = void 0;
  }
  /** Drops the current socket as if the line had broken, then reconnects. */
  drop(code, reason) {
    const ws = this.ws;
    if (ws === void 0)
      return;
    this.detach();
    try {
      ws.close(WATCHDOG_CLOSE_CODE, reason);
    } catch {
    }
    this.retry(code, reason);
  }
  // --- receiving ---------------------------------------------------------------------------
  receive(text) {
    clearTimeout(this.pongTimer);
    this.pongTimer = void 0;
    let event;
    try {
      event = JSON.parse(text);
    } catch {
      return;
    }
    switch (event.event) {
      case "welcome":
        this.welcome(event.cursor, event.topics);
        break;
      case "resumed":
        if (event.replayed === 0)
          this.cursor = this.head;
        if (!event.complete)
          this.events.emit("resync", { since: event.since, replayed: event.replayed });
        break;
      case "notification":
        this.deliver(event.cursor, event.notification);
        break;
      case "subscribed":
        this.answered(event.topic);
        this.events.emit("subscribed", event.topic);
        break;
      case "unsubscribed":
        this.topicSet.delete(event.topic);
        this.events.emit("unsubscribed", event.topic);
        break;
      case "refreshed":
        this.refreshAt(event.expires_at * 1e3);
        break;
      case "error":
        this.serverError(event.code, event.message, event.field);
        break;
      default:
        break;
    }
  }
  /**
   * An `error` event. Ops are answered in order, so a refused subscribe (not allowed by the
   * token, or one topic too many) is the oldest one unanswered: that topic is dropped, or
   * every reconnect would ask for it again and be refused.
   */
  serverError(code, message, field) {
    const refused = code === "forbidden_topic" || code === "too_many_topics" ? this.asked.shift() : void 0;
    if (refused !== void 0)
      this.topicSet.delete(refused);
    this.events.emit("error", {
      kind: "server",
      code,
      message,
      ...field === void 0 ? {} : { field },
      ...refused === void 0 ? {} : { topic: refused }
    });
  }
  welcome(head, topics) {
    this.head = head;
    if (this.resumedFrom === void 0)
      this.cursor = head;
    this.attempt = 0;
    const granted = new Set(topics);
    for (const topic of this.topicSet) {
      if (!granted.has(topic))
        this.askFor(topic);
    }
    for (const topic of granted) {
      if (!this.topicSet.has(topic))
        this.send({ op: "unsubscribe", topic });
    }
    this.pingTimer = setInterval(() => this.ping(), this.opts.pingInterval);
    this.setState("connected");
  }
  deliver(cursor, notification) {
    if (this.seen.has(cursor) || olderInSameLog(cursor, this.cursor))
      return;
    this.seen.add(cursor);
    if (this.seen.size > this.opts.dedupSize) {
      const oldest = this.seen.values().next().value;
      if (oldest !== void 0)
        this.seen.delete(oldest);
    }
    this.cursor = cursor;
    this.events.emit("notification", notification, cursor);
  }
  // --- liveness and tokens -----------------------------------------------------------------
  /** Sends `{"op":"ping"}`; a connection silent for `pongTimeout` after it is dropped. */
  ping() {
    if (this.current !== "connected" || this.pongTimer !== void 0)
      return;
    this.send({ op: "ping" });
    this.pongTimer = setTimeout(() => this.drop(WATCHDOG_CLOSE_CODE, "no answer to ping"), this.opts.pongTimeout);
  }
  scheduleRefresh(token) {
    const expires = token === void 0 ? void 0 : tokenExpiry(token);
    if (expires !== void 0)
      this.refreshAt(expires);
  }
  refreshAt(expiresAtMs) {
    clearTimeout(this.refreshTimer);
    const delay = Math.max(1e3, expiresAtMs - Date.now() - this.opts.refreshBefore);
    this.refreshTimer = delay > MAX_TIMER_MS ? setTimeout(() => this.refreshAt(expiresAtMs), MAX_TIMER_MS) : setTimeout(() => void this.refresh(), delay);
  }
  /** Sends a fresh token on the open connection (only `notifications.v1` has the op). */
  async refresh() {
    const ws = this.ws;
    if (this.getToken === void 0 || ws === void 0 || ws.protocol !== SUBPROTOCOL)
      return;
    let token;
    try {
      token = await this.getToken();
    } catch (error) {
      this.events.emit("error", { kind: "token", code: "get_token", message: String(error) });
      return;
    }
    if (this.ws === ws)
      this.send({ op: "refresh", token });
  }
  answered(topic) {
    const index = this.asked.indexOf(topic);
    if (index >= 0)
      this.asked.splice(index, 1);
  }
  askFor(topic) {
    this.asked.push(topic);
    this.send({ op: "subscribe", topic });
  }
  // --- plumbing ----------------------------------------------------------------------------
  send(op) {
    if (this.ws?.readyState === 1)
      this.ws.send(JSON.stringify(op));
  }
  setState(state, detail = {}) {
    const previous = this.current;
    if (state === previous && state !== "disconnected")
      return;
    this.current = state;
    const change = { state, previous };
    if (detail.code !== void 0)
      change.code = detail.code;
    if (detail.reason !== void 0)
      change.reason = detail.reason;
    if (detail.delay !== void 0)
      change.delay = detail.delay;
    this.events.emit("state", change);
  }
  wake = () => {
    if (this.current === "disconnected" && this.running) {
      this.attempt = 0;
      clearTimeout(this.retryTimer);
      void this.open();
    } else if (this.current === "connected") {
      this.ping();
    }
  };
  offline = () => {
    if (this.ws !== void 0)
      this.drop(1006, "offline");
  };
};
export {
  CLOSE_POLICY,
  NotificationClient,
  SUBPROTOCOL,
  WATCHDOG_CLOSE_CODE,
  closeAction
};
