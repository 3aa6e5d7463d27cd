// @notification-gateway/client, built from clients/js by `npm run build`: do not edit.
// sources-sha256: a39faf43cb78e1cccee5dc53e2aedd36bb287ff150f8c1b4a3b2a02bd2de3e7e
// dist/acks.js
var MAX_QUEUED_READS = 100;
var Acks = class {
  times;
  send;
  acked;
  /** Whether the current connection's gateway applies receipts. */
  on = false;
  /** The highest cursor received on this connection and not acked yet. */
  owed;
  count = 0;
  timer;
  /** When this connection last sent an ack (performance.now() ms); undefined: never. */
  lastAck;
  /** The last cursor acked, or the one the current connection started after. */
  safe;
  /** Set when a socket dropped owing acks: the next one resumes after `safe` instead. */
  rewind;
  reads = [];
  constructor(times, send, acked) {
    this.times = times;
    this.send = send;
    this.acked = acked;
  }
  /** A connection's welcome: it resumes after `from` (or starts at `head`). */
  connected(receipts, from, head) {
    this.on = receipts;
    this.safe = from ?? head;
    this.rewind = void 0;
    this.lastAck = void 0;
    if (!receipts)
      return;
    for (const id of this.reads.splice(0))
      this.send({ op: "read", id });
  }
  /** A notification frame arrived on this connection (new or a duplicate). */
  received(cursor) {
    if (!this.on || this.times === void 0)
      return;
    this.owed = cursor;
    this.count += 1;
    if (this.timer !== void 0 && this.count < this.times.every)
      return;
    const since = this.lastAck === void 0 ? Infinity : performance.now() - this.lastAck;
    if (since >= this.times.interval || this.count >= this.times.every)
      this.flush();
    else
      this.timer = setTimeout(() => this.flush(), this.times.interval - since);
  }
  /** Sends what is owed now (also on a clean close, so nothing stays pending). */
  flush() {
    clearTimeout(this.timer);
    this.timer = void 0;
    this.count = 0;
    const cursor = this.owed;
    if (cursor === void 0)
      return;
    this.owed = void 0;
    if (this.send({ op: "ack", cursor })) {
      this.lastAck = performance.now();
      this.safe = cursor;
      this.acked(cursor);
    }
  }
  /** The socket is gone: what it owed can only be acked on the next one, after a replay. */
  dropped() {
    if (this.on && this.owed !== void 0)
      this.rewind = this.safe;
    clearTimeout(this.timer);
    this.timer = void 0;
    this.owed = void 0;
    this.count = 0;
    this.on = false;
  }
  /** Where the next connection should resume after so that nothing owed goes unacked. */
  resumeFrom(cursor) {
    return this.rewind ?? cursor;
  }
  markRead(id) {
    if (this.on && this.send({ op: "read", id }))
      return;
    this.reads.push(id);
    if (this.reads.length > MAX_QUEUED_READS)
      this.reads.shift();
  }
};

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

// dist/liveness.js
var Watchdog = class {
  times;
  sendPing;
  dead;
  pingTimer;
  pongTimer;
  constructor(times, sendPing, dead) {
    this.times = times;
    this.sendPing = sendPing;
    this.dead = dead;
  }
  /** A socket opened: a handshake nobody answers (a proxy, a gateway stopping) must not hang. */
  opened() {
    this.pongTimer = setTimeout(() => this.dead("no welcome in time"), this.times.connectTimeout);
  }
  /** Any frame arrived. */
  heard() {
    clearTimeout(this.pongTimer);
    this.pongTimer = void 0;
  }
  /** The welcome arrived: ping from now on. */
  connected() {
    this.pingTimer = setInterval(() => this.check(), this.times.pingInterval);
  }
  /** Pings now, unless a ping is still unanswered; only between `connected()` and `stop()`. */
  check() {
    if (this.pingTimer === void 0 || this.pongTimer !== void 0)
      return;
    this.sendPing();
    this.pongTimer = setTimeout(() => this.dead("no answer to ping"), this.times.pongTimeout);
  }
  stop() {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
    this.pingTimer = this.pongTimer = void 0;
  }
};

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

// dist/resume.js
var ResumePoint = class {
  dedupSize;
  /** The cursor to resume after. */
  cursor;
  /** The cursor the current connection resumed from (undefined: it started at the head). */
  from;
  /** The log head the last welcome named. */
  head;
  seen = /* @__PURE__ */ new Set();
  /**
   * Asked with `since` and no `resumed` event yet: no notification moves the cursor. A
   * gateway whose replay read failed once sent live frames and then 1013; a cursor taken
   * from them made the next resume skip the range never replayed (issue 15, fault path 1).
   */
  awaitingResumed = false;
  constructor(since, dedupSize) {
    this.dedupSize = dedupSize;
    this.cursor = since;
  }
  /** A connection opened: it resumes after the cursor as it is now. */
  opened() {
    this.from = this.cursor;
    this.awaitingResumed = this.from !== void 0;
  }
  welcome(head) {
    this.head = head;
    if (this.from === void 0)
      this.cursor = head;
  }
  /** Nothing replayed: the head is as good a place to resume from as `since`. */
  resumed(replayed) {
    this.awaitingResumed = false;
    if (replayed === 0)
      this.cursor = this.head;
  }
  /** True for a notification not handed over yet (the cursor moves to it); false: a duplicate. */
  accept(cursor) {
    if (this.seen.has(cursor) || olderInSameLog(cursor, this.cursor))
      return false;
    this.seen.add(cursor);
    if (this.seen.size > this.dedupSize) {
      const oldest = this.seen.values().next().value;
      if (oldest !== void 0)
        this.seen.delete(oldest);
    }
    if (!this.awaitingResumed)
      this.cursor = cursor;
    return true;
  }
};

// dist/settings.js
function settingsOf(options) {
  return {
    tokenIn: options.tokenIn ?? "protocol",
    minReconnectDelay: options.minReconnectDelay ?? 500,
    maxReconnectDelay: options.maxReconnectDelay ?? 2e4,
    pingInterval: options.pingInterval ?? 25e3,
    pongTimeout: options.pongTimeout ?? 1e4,
    connectTimeout: options.connectTimeout ?? 1e4,
    refreshBefore: options.refreshBefore ?? 3e4,
    dedupSize: options.dedupSize ?? 512,
    acks: options.acks === false ? void 0 : { interval: options.ackInterval ?? 1e3, every: options.ackEvery ?? 100 },
    transport: options.transport ?? "websocket",
    retryWebSocket: options.retryWebSocket ?? 3e5
  };
}

// dist/state.js
var ConnectionStates = class {
  emit;
  current = "disconnected";
  constructor(emit) {
    this.emit = emit;
  }
  get state() {
    return this.current;
  }
  /** Moves to `state`, and says so unless it was already there. */
  set(state, detail = {}) {
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
    this.emit(change);
  }
};

// dist/token.js
var MAX_TIMER_MS = 2 ** 31 - 1;
var TokenRefresher = class {
  refreshBefore;
  due;
  timer;
  constructor(refreshBefore, due) {
    this.refreshBefore = refreshBefore;
    this.due = due;
  }
  /** Arms from a token's `exp`; no token, or one without `exp`, leaves the timer as it is. */
  schedule(token) {
    const expires = token === void 0 ? void 0 : tokenExpiry(token);
    if (expires !== void 0)
      this.at(expires);
  }
  /** Arms for a token that expires at `expiresAtMs` (unix milliseconds). */
  at(expiresAtMs) {
    clearTimeout(this.timer);
    const delay = Math.max(1e3, expiresAtMs - Date.now() - this.refreshBefore);
    this.timer = delay > MAX_TIMER_MS ? setTimeout(() => this.at(expiresAtMs), MAX_TIMER_MS) : setTimeout(() => this.due(), delay);
  }
  cancel() {
    clearTimeout(this.timer);
    this.timer = void 0;
  }
};

// dist/topics.js
var Topics = class {
  followed = /* @__PURE__ */ new Set();
  /** Subscribe ops sent and not yet answered, oldest first. */
  asked = [];
  constructor(topics) {
    for (const topic of topics)
      this.follow(topic);
  }
  list() {
    return [...this.followed];
  }
  /** Throws a `TypeError` for a topic the gateway would refuse. */
  follow(topic) {
    this.followed.add(checkTopic(topic));
  }
  /** False when the topic was not followed. */
  drop(topic) {
    return this.followed.delete(topic);
  }
  asking(topic) {
    this.asked.push(topic);
  }
  answered(topic) {
    const index = this.asked.indexOf(topic);
    if (index >= 0)
      this.asked.splice(index, 1);
  }
  /** A subscribe was refused: the topic it asked for, no longer followed. */
  refused() {
    const topic = this.asked.shift();
    if (topic !== void 0)
      this.followed.delete(topic);
    return topic;
  }
  /** The connection ended: its ops will never be answered. */
  forgetAsked() {
    this.asked = [];
  }
  /**
   * Against the topics a welcome granted (they may have changed while the upgrade was in
   * flight): those followed but not granted, and those granted but no longer followed.
   */
  compare(granted) {
    const got = new Set(granted);
    return {
      missing: [...this.followed].filter((topic) => !got.has(topic)),
      extra: [...got].filter((topic) => !this.followed.has(topic))
    };
  }
};

// dist/socket.js
function connectQuery(attempt) {
  const query = new URLSearchParams({ user_id: attempt.userId });
  if (attempt.topics.length > 0)
    query.set("topics", attempt.topics.join(","));
  if (attempt.since !== void 0)
    query.set("since", attempt.since);
  if (attempt.token !== void 0 && attempt.tokenIn === "query")
    query.set("token", attempt.token);
  return query;
}
function withQuery(base, query) {
  return base + (base.includes("?") ? "&" : "?") + query.toString();
}
function dialWebSocket(Socket, base, attempt, current, on) {
  const url = withQuery(base, connectQuery(attempt));
  const { token, tokenIn } = attempt;
  const ws = token !== void 0 && tokenIn === "protocol" ? new Socket(url, [SUBPROTOCOL, "bearer." + token]) : new Socket(url);
  listen(ws, current, on);
  return {
    kind: "websocket",
    socket: ws,
    get refreshes() {
      return ws.protocol === SUBPROTOCOL;
    },
    send(op) {
      if (ws.readyState !== 1)
        return false;
      ws.send(JSON.stringify(op));
      return true;
    },
    close(code, reason) {
      silence(ws);
      try {
        ws.close(code, reason);
      } catch {
      }
    }
  };
}
function listen(ws, current, on) {
  ws.onmessage = (message) => {
    if (current() && typeof message.data === "string")
      on.text(message.data);
  };
  ws.onclose = (event) => {
    if (current())
      on.closed(event.code, event.reason);
  };
  ws.onerror = () => {
    if (!current())
      return;
    on.closed(1006, "connection failed");
    try {
      ws.close();
    } catch {
    }
  };
}
function silence(ws) {
  ws.onmessage = null;
  ws.onclose = null;
  ws.onerror = null;
}

// dist/sse.js
function sseUrl(url) {
  const parsed = new URL(url);
  if (parsed.protocol === "ws:")
    parsed.protocol = "http:";
  if (parsed.protocol === "wss:")
    parsed.protocol = "https:";
  parsed.pathname = parsed.pathname.replace(/\/ws$/, "/sse");
  if (!parsed.pathname.endsWith("/sse"))
    parsed.pathname = parsed.pathname.replace(/\/?$/, "/sse");
  return parsed.toString();
}
function dialSse(fetchImpl, base, attempt, current, on) {
  const streamUrl = sseUrl(base);
  const opsUrl = streamUrl.replace(/\?.*$/, "").replace(/\/sse$/, "/sse/ops");
  const abort = new AbortController();
  let stream;
  let ended = false;
  let queued = [];
  let posting = false;
  const end = (code, reason) => {
    if (ended)
      return;
    ended = true;
    abort.abort();
    if (current())
      on.closed(code, reason);
  };
  const post = () => {
    if (posting || queued.length === 0 || stream === void 0 || ended)
      return;
    const ops = queued.slice(0, 64);
    queued = queued.slice(ops.length);
    posting = true;
    fetchImpl(opsUrl, {
      method: "POST",
      // text/plain keeps a cross-site post a simple request (no preflight)
      headers: { "Content-Type": "text/plain" },
      body: JSON.stringify({ stream, ops })
    }).then((reply) => reply.body?.cancel()).catch(() => void 0).finally(() => {
      posting = false;
      post();
    });
  };
  const headers = { Accept: "text/event-stream" };
  if (attempt.token !== void 0 && attempt.tokenIn === "protocol") {
    headers["Authorization"] = "Bearer " + attempt.token;
  }
  const read = async () => {
    const reply = await fetchImpl(withQuery(streamUrl, connectQuery(attempt)), {
      headers,
      cache: "no-store",
      signal: abort.signal
    });
    if (reply.status !== 200 || reply.body === null) {
      await reply.body?.cancel();
      end(1006, `HTTP ${reply.status}`);
      return;
    }
    const reader = reply.body.pipeThrough(new TextDecoderStream()).getReader();
    const parser = new EventParser((name, data) => {
      if (name === "close") {
        const close = JSON.parse(data);
        end(close.code, close.reason);
        return;
      }
      if (name === "welcome") {
        stream = JSON.parse(data).stream;
        post();
      }
      if (current() && !ended)
        on.text(data);
    });
    for (; ; ) {
      const { value, done } = await reader.read();
      if (done || ended)
        break;
      parser.feed(value);
    }
    end(1006, "stream ended");
  };
  read().catch(() => end(1006, "connection failed"));
  return {
    kind: "sse",
    refreshes: true,
    send(op) {
      if (stream === void 0 || ended)
        return false;
      queued.push(op);
      post();
      return true;
    },
    close() {
      ended = true;
      abort.abort();
    }
  };
}
var EventParser = class {
  dispatch;
  buffer = "";
  name = "";
  data = [];
  constructor(dispatch) {
    this.dispatch = dispatch;
  }
  feed(chunk) {
    this.buffer += chunk;
    let newline;
    while ((newline = this.buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.buffer.slice(0, newline);
      const width = this.buffer.startsWith("\r\n", newline) ? 2 : 1;
      this.buffer = this.buffer.slice(newline + width);
      this.line(line);
    }
  }
  line(line) {
    if (line === "") {
      if (this.data.length > 0)
        this.dispatch(this.name || "message", this.data.join("\n"));
      this.name = "";
      this.data = [];
      return;
    }
    if (line.startsWith(":"))
      return;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" "))
      value = value.slice(1);
    if (field === "event")
      this.name = value;
    else if (field === "data")
      this.data.push(value);
  }
};

// dist/transport.js
var AUTO_FAILURES = 2;
var TransportChooser = class {
  choice;
  retryWebSocket;
  now;
  failures = 0;
  fellBackAt;
  constructor(choice, retryWebSocket, now = Date.now) {
    this.choice = choice;
    this.retryWebSocket = retryWebSocket;
    this.now = now;
  }
  /** The transport for the next attempt. */
  next() {
    if (this.choice !== "auto")
      return this.choice;
    if (this.fellBackAt === void 0)
      return "websocket";
    if (this.now() - this.fellBackAt < this.retryWebSocket)
      return "sse";
    this.fellBackAt = void 0;
    this.failures = AUTO_FAILURES - 1;
    return "websocket";
  }
  /** An attempt reached its welcome. */
  connected(kind) {
    if (kind === "websocket")
      this.failures = 0;
  }
  /** An attempt ended before its welcome. */
  failed(kind) {
    if (this.choice !== "auto" || kind !== "websocket")
      return;
    this.failures += 1;
    if (this.failures >= AUTO_FAILURES) {
      this.failures = 0;
      this.fellBackAt = this.now();
    }
  }
};
function dial(kind, dialers, url, attempt, current, handlers) {
  return kind === "sse" ? dialSse(dialers.fetch ?? globalThis.fetch, url, attempt, current, handlers) : dialWebSocket(dialers.Socket ?? globalThis.WebSocket, url, attempt, current, handlers);
}

// dist/index.js
var NotificationClient = class {
  url;
  userId;
  opts;
  getToken;
  dialers;
  transports;
  events = new Emitter();
  unhook;
  states = new ConnectionStates((change) => this.events.emit("state", change));
  channel;
  /** Whether the current attempt reached its welcome. */
  welcomed = false;
  /** Bumped on every attempt and on close(): async steps of an older one give up. */
  generation = 0;
  attempt = 0;
  running = false;
  retryTimer;
  followed;
  resume;
  tokens;
  watchdog;
  acks;
  /** The cursor the current attempt resumed after (undefined: from the head). */
  resumedFrom;
  constructor(url, options) {
    this.url = checkUrl(url);
    this.userId = options.userId;
    this.followed = new Topics(options.topics ?? []);
    this.getToken = options.getToken;
    this.dialers = { Socket: options.WebSocket, fetch: options.fetch };
    this.opts = settingsOf(options);
    this.transports = new TransportChooser(this.opts.transport, this.opts.retryWebSocket);
    this.resume = new ResumePoint(options.since, this.opts.dedupSize);
    this.tokens = new TokenRefresher(this.opts.refreshBefore, () => void this.refresh());
    this.acks = new Acks(this.opts.acks, (op) => this.send(op), (cursor) => this.events.emit("acked", cursor));
    this.watchdog = new Watchdog(this.opts, () => this.send({ op: "ping" }), (reason) => this.drop(WATCHDOG_CLOSE_CODE, reason));
  }
  get state() {
    return this.states.state;
  }
  /** The cursor to resume after: keep it to pass as `since` on the next page load. */
  get lastCursor() {
    return this.resume.cursor;
  }
  /** What carries the current (or last) attempt: `websocket` or `sse`. */
  get transport() {
    return this.channel?.kind ?? this.lastKind;
  }
  lastKind;
  get topics() {
    return this.followed.list();
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
    this.followed.follow(topic);
    if (this.states.state === "connected")
      this.askFor(topic);
  }
  unsubscribe(topic) {
    if (!this.followed.drop(topic))
      return;
    if (this.states.state === "connected")
      this.send({ op: "unsubscribe", topic });
  }
  /**
   * Receipts: tell the gateway the person saw notification `id` (sent now, or after the
   * next connect). Counts only for a notification addressed to this user.
   */
  markRead(id) {
    this.acks.markRead(id);
  }
  /** Closes with 1000 and stops reconnecting. `connect()` starts again. */
  close() {
    this.acks.flush();
    const channel = this.channel;
    this.stop();
    channel?.close(1e3, "client closed");
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
    this.resumedFrom = this.acks.resumeFrom(this.resume.cursor);
    const attempt = {
      userId: this.userId,
      topics: this.followed.list(),
      since: this.resumedFrom,
      token,
      tokenIn: this.opts.tokenIn
    };
    const kind = this.transports.next();
    let channel = void 0;
    const current = () => this.channel === channel && channel !== void 0;
    const handlers = {
      text: (text) => this.receive(text),
      closed: (code, reason) => this.closed(code, reason)
    };
    try {
      channel = dial(kind, this.dialers, this.url, attempt, current, handlers);
    } catch {
      const message = "getToken returned a token with characters a JWT never has";
      this.events.emit("error", { kind: "token", code: "unusable_token", message });
      this.retry(void 0, "unusable token");
      return;
    }
    this.channel = channel;
    this.lastKind = kind;
    this.welcomed = false;
    this.resume.opened();
    this.watchdog.opened();
    this.tokens.schedule(token);
  }
  closed(code, reason) {
    if (!this.welcomed && this.lastKind !== void 0)
      this.transports.failed(this.lastKind);
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
  /** Forgets the channel and its timers (its own handlers are silenced). */
  detach() {
    const channel = this.channel;
    this.channel = void 0;
    channel?.close(1e3, "client closed");
    this.acks.dropped();
    this.watchdog.stop();
    this.tokens.cancel();
    this.followed.forgetAsked();
  }
  stop() {
    this.running = false;
    this.generation += 1;
    clearTimeout(this.retryTimer);
    this.detach();
    this.unhook?.();
    this.unhook = void 0;
  }
  /** Drops the current channel as if the line had broken, then reconnects. */
  drop(code, reason) {
    const channel = this.channel;
    if (channel === void 0)
      return;
    if (!this.welcomed && this.lastKind !== void 0)
      this.transports.failed(this.lastKind);
    this.channel = void 0;
    channel.close(WATCHDOG_CLOSE_CODE, reason);
    this.detach();
    this.retry(code, reason);
  }
  // --- receiving ---------------------------------------------------------------------------
  receive(text) {
    this.watchdog.heard();
    let event;
    try {
      event = JSON.parse(text);
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
        if (!event.complete)
          this.events.emit("resync", { since: event.since, replayed: event.replayed });
        break;
      case "notification":
        this.deliver(event.cursor, event.notification);
        break;
      case "subscribed":
        this.followed.answered(event.topic);
        this.events.emit("subscribed", event.topic);
        break;
      case "unsubscribed":
        this.followed.drop(event.topic);
        this.events.emit("unsubscribed", event.topic);
        break;
      case "refreshed":
        this.tokens.at(event.expires_at * 1e3);
        break;
      case "error":
        this.serverError(event.code, event.message, event.field);
        break;
      default:
        break;
    }
  }
  /** An `error` event; a refused subscribe names its topic, which is no longer followed. */
  serverError(code, message, field) {
    const refusal = code === "forbidden_topic" || code === "too_many_topics";
    const refused = refusal ? this.followed.refused() : void 0;
    this.events.emit("error", {
      kind: "server",
      code,
      message,
      ...field === void 0 ? {} : { field },
      ...refused === void 0 ? {} : { topic: refused }
    });
  }
  welcome(head, topics) {
    this.resume.welcome(head);
    this.attempt = 0;
    this.welcomed = true;
    if (this.lastKind !== void 0)
      this.transports.connected(this.lastKind);
    const { missing, extra } = this.followed.compare(topics);
    for (const topic of missing)
      this.askFor(topic);
    for (const topic of extra)
      this.send({ op: "unsubscribe", topic });
    this.watchdog.connected();
    this.setState("connected");
  }
  /** Hands a notification to the app unless it is a duplicate. */
  deliver(cursor, notification) {
    if (this.resume.accept(cursor))
      this.events.emit("notification", notification, cursor);
    this.acks.received(cursor);
  }
  // --- tokens and topics -------------------------------------------------------------------
  /** Due before the token expires: sends a fresh one (only `notifications.v1` has the op). */
  async refresh() {
    const channel = this.channel;
    if (this.getToken === void 0 || channel === void 0 || !channel.refreshes)
      return;
    let token;
    try {
      token = await this.getToken();
    } catch (error) {
      this.events.emit("error", { kind: "token", code: "get_token", message: String(error) });
      return;
    }
    if (this.channel === channel)
      this.send({ op: "refresh", token });
  }
  askFor(topic) {
    this.followed.asking(topic);
    this.send({ op: "subscribe", topic });
  }
  // --- plumbing ----------------------------------------------------------------------------
  send(op) {
    return this.channel?.send(op) ?? false;
  }
  setState(state, detail) {
    this.states.set(state, detail);
  }
  wake = () => {
    if (this.states.state === "disconnected" && this.running) {
      this.attempt = 0;
      clearTimeout(this.retryTimer);
      void this.open();
    } else if (this.states.state === "connected") {
      this.watchdog.check();
    }
  };
  offline = () => {
    if (this.channel !== void 0)
      this.drop(1006, "offline");
  };
};
export {
  CLOSE_POLICY,
  NotificationClient,
  SUBPROTOCOL,
  WATCHDOG_CLOSE_CODE,
  closeAction,
  sseUrl
};
