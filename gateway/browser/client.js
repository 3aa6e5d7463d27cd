// @notification-gateway/client, built from clients/js by `npm run build`: do not edit.
// sources-sha256: d96325a77e54eb9c92edaf8a6177468e866b3791a32dc3efdc63565ca5b24f38
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
/** The subprotocol offered whenever a token is sent in `Sec-WebSocket-Protocol`. */
export const SUBPROTOCOL = "notifications.v1";
export const CLOSE_POLICY = Object.freeze({
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
export function closeAction(code) {
    return CLOSE_POLICY[code] ?? "reconnect";
}
/** The close code reported when the watchdog gives up on a silent connection or handshake. */
export const WATCHDOG_CLOSE_CODE = 4000;
const TOPIC = /^[^\s,\u0000-\u001f\u007f]{1,128}$/u;
export class NotificationClient {
    url;
    userId;
    opts;
    getToken;
    Socket;
    topicSet;
    handlers = {
        notification: new Set(),
        state: new Set(),
        resync: new Set(),
        error: new Set(),
        subscribed: new Set(),
        unsubscribed: new Set(),
    };
    seen = new Set();
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
        this.url = url;
        this.userId = options.userId;
        this.topicSet = new Set();
        for (const topic of options.topics ?? [])
            this.topicSet.add(checkTopic(topic));
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
        this.handlers[event].add(handler);
        return () => this.off(event, handler);
    }
    off(event, handler) {
        this.handlers[event].delete(handler);
    }
    /** Starts connecting (and reconnecting until `close()` or a stopping close code). */
    connect() {
        if (this.running)
            return;
        this.running = true;
        this.attempt = 0;
        this.hook(true);
        void this.open();
    }
    /** Follows a topic now and on every reconnect. */
    subscribe(topic) {
        this.topicSet.add(checkTopic(topic));
        if (this.current === "connected")
            this.send({ op: "subscribe", topic });
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
        ws?.close(1000, "client closed");
        this.setState("closed", { code: 1000 });
    }
    // --- connecting --------------------------------------------------------------------------
    async open() {
        const generation = ++this.generation;
        this.setState("connecting");
        let token;
        if (this.getToken !== undefined) {
            try {
                token = await this.getToken();
            }
            catch (error) {
                if (generation !== this.generation)
                    return;
                this.emit("error", { kind: "token", code: "get_token", message: String(error) });
                this.retry(undefined, "getToken failed");
                return;
            }
            if (generation !== this.generation)
                return;
        }
        const query = new URLSearchParams({ user_id: this.userId });
        if (this.topicSet.size > 0)
            query.set("topics", [...this.topicSet].join(","));
        if (this.cursor !== undefined)
            query.set("since", this.cursor);
        if (token !== undefined && this.opts.tokenIn === "query")
            query.set("token", token);
        const url = this.url + (this.url.includes("?") ? "&" : "?") + query.toString();
        const Socket = this.Socket ?? globalThis.WebSocket;
        // Chromium fails a connection that offered subprotocols none of which was selected, so
        // nothing is offered without a token (a gateway without JWT need not know the name).
        const ws = token !== undefined && this.opts.tokenIn === "protocol"
            ? new Socket(url, [SUBPROTOCOL, "bearer." + token])
            : new Socket(url);
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
        // An error always means a failed connection (close code 1006); some implementations
        // (Node 20's) never fire the close event that should follow it.
        ws.onerror = () => {
            if (this.ws !== ws)
                return;
            this.closed(1006, "connection failed");
            try {
                ws.close();
            }
            catch {
                // already closed
            }
        };
        // A handshake nobody answers (a gateway stopping, a proxy) must not hang the client.
        this.pongTimer = setTimeout(() => this.drop(WATCHDOG_CLOSE_CODE, "no welcome in time"), this.opts.connectTimeout);
        this.scheduleRefresh(token);
    }
    closed(code, reason) {
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
    retry(code, reason, delay = this.backoff()) {
        this.attempt += 1;
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => void this.open(), delay);
        this.setState("disconnected", { code, reason, delay });
    }
    /**
     * Full jitter: uniform between the minimum and min × 2^(attempt+1), capped at the maximum,
     * so even the first retries after a drain's 1001 spread out instead of arriving together.
     */
    backoff() {
        const { minReconnectDelay: low, maxReconnectDelay: high } = this.opts;
        const cap = Math.min(high, low * 2 ** Math.min(this.attempt + 1, 30));
        return Math.round(low + Math.random() * (cap - low));
    }
    /** Forgets the socket and its timers (the socket's own handlers are silenced). */
    detach() {
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
    stop() {
        this.running = false;
        this.generation += 1;
        clearTimeout(this.retryTimer);
        this.detach();
        this.hook(false);
    }
    /** Drops the current socket as if the line had broken, then reconnects. */
    drop(code, reason) {
        const ws = this.ws;
        if (ws === undefined)
            return;
        this.detach();
        try {
            ws.close(WATCHDOG_CLOSE_CODE, reason);
        }
        catch {
            // a socket still connecting may refuse; it is forgotten either way
        }
        this.retry(code, reason);
    }
    // --- receiving ---------------------------------------------------------------------------
    receive(text) {
        clearTimeout(this.pongTimer); // any frame proves the line is alive
        this.pongTimer = undefined;
        let event;
        try {
            event = JSON.parse(text);
        }
        catch {
            return;
        }
        switch (event.event) {
            case "welcome":
                this.welcome(event.cursor, event.topics);
                break;
            case "resumed":
                // Nothing to replay: the head is as good a place to resume from as `since`.
                if (event.replayed === 0)
                    this.cursor = this.head;
                if (!event.complete)
                    this.emit("resync", { since: event.since, replayed: event.replayed });
                break;
            case "notification":
                this.deliver(event.cursor, event.notification);
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
    welcome(head, topics) {
        this.head = head;
        if (this.resumedFrom === undefined)
            this.cursor = head;
        this.attempt = 0;
        // Topics followed or dropped while the upgrade was in flight.
        const granted = new Set(topics);
        for (const topic of this.topicSet) {
            if (!granted.has(topic))
                this.send({ op: "subscribe", topic });
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
            if (oldest !== undefined)
                this.seen.delete(oldest);
        }
        this.cursor = cursor;
        this.emit("notification", notification, cursor);
    }
    // --- liveness and tokens -----------------------------------------------------------------
    /** Sends `{"op":"ping"}`; a connection silent for `pongTimeout` after it is dropped. */
    ping() {
        if (this.current !== "connected" || this.pongTimer !== undefined)
            return;
        this.send({ op: "ping" });
        this.pongTimer = setTimeout(() => this.drop(WATCHDOG_CLOSE_CODE, "no answer to ping"), this.opts.pongTimeout);
    }
    scheduleRefresh(token) {
        const expires = token === undefined ? undefined : tokenExpiry(token);
        if (expires !== undefined)
            this.refreshAt(expires);
    }
    refreshAt(expiresAtMs) {
        clearTimeout(this.refreshTimer);
        const delay = Math.max(1_000, expiresAtMs - Date.now() - this.opts.refreshBefore);
        this.refreshTimer = setTimeout(() => void this.refresh(), delay);
    }
    /** Sends a fresh token on the open connection (only `notifications.v1` has the op). */
    async refresh() {
        const ws = this.ws;
        if (this.getToken === undefined || ws === undefined || ws.protocol !== SUBPROTOCOL)
            return;
        let token;
        try {
            token = await this.getToken();
        }
        catch (error) {
            this.emit("error", { kind: "token", code: "get_token", message: String(error) });
            return; // the 4001 close reconnects with whatever getToken gives then
        }
        if (this.ws === ws)
            this.send({ op: "refresh", token });
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
        if (detail.code !== undefined)
            change.code = detail.code;
        if (detail.reason !== undefined)
            change.reason = detail.reason;
        if (detail.delay !== undefined)
            change.delay = detail.delay;
        this.emit("state", change);
    }
    emit(event, ...args) {
        for (const handler of this.handlers[event]) {
            try {
                handler(...args);
            }
            catch (error) {
                // An app's handler must not break the connection; the error still surfaces.
                setTimeout(() => {
                    throw error;
                });
            }
        }
    }
    wake = () => {
        if (this.current === "disconnected" && this.running) {
            this.attempt = 0;
            clearTimeout(this.retryTimer);
            void this.open();
        }
        else if (this.current === "connected") {
            this.ping(); // timers sleep in hidden tabs: check the line now
        }
    };
    offline = () => {
        if (this.ws !== undefined)
            this.drop(1006, "offline");
    };
    visible = () => {
        if (globalThis.document?.visibilityState === "visible")
            this.wake();
    };
    /** Browser hooks: online/offline and page visibility (absent in Node: skipped). */
    hook(on) {
        const target = globalThis;
        const doc = globalThis.document;
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
function checkTopic(topic) {
    if (!TOPIC.test(topic)) {
        throw new TypeError(`topic: 1-128 characters without whitespace, commas or controls`);
    }
    return topic;
}
/**
 * Whether `cursor` comes before `last` in the same log. Cursors are `<log>-<seq>`: only
 * cursors of one log (same prefix) are comparable; others are left to the seen-set.
 */
function olderInSameLog(cursor, last) {
    if (last === undefined)
        return false;
    const a = cursor.lastIndexOf("-");
    const b = last.lastIndexOf("-");
    if (a < 0 || b < 0 || cursor.slice(0, a) !== last.slice(0, b))
        return false;
    const seq = cursor.slice(a + 1);
    const lastSeq = last.slice(b + 1);
    if (!/^\d+$/.test(seq) || !/^\d+$/.test(lastSeq))
        return false;
    return seq.length < lastSeq.length || (seq.length === lastSeq.length && seq <= lastSeq);
}
/** The `exp` of a JWT in ms, or undefined when it has none or is not a JWT. */
function tokenExpiry(token) {
    try {
        const part = token.split(".")[1] ?? "";
        const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
        const exp = JSON.parse(json).exp;
        return typeof exp === "number" ? exp * 1000 : undefined;
    }
    catch {
        return undefined;
    }
}
