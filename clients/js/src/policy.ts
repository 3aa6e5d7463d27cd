/**
 * The client's rules as pure functions and tables: what each close code means, how long to
 * wait before the next attempt, which topics are valid, how cursors and tokens are read.
 */

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

/**
 * Full jitter: uniform between `low` and `low × 2^(attempt+1)`, capped at `high`, so even the
 * first retries after a drain's 1001 spread out instead of arriving together.
 */
export function backoffDelay(attempt: number, low: number, high: number): number {
  const cap = Math.min(high, low * 2 ** Math.min(attempt + 1, 30));
  return Math.round(low + Math.random() * (cap - low));
}

const TOPIC = /^[^\s,\u0000-\u001f\u007f]{1,128}$/u;

/** `url` itself, or a TypeError unless it is a ws(s) or http(s) URL with a host. */
export function checkUrl(url: string): string {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined || !/^(wss?|https?):$/.test(parsed.protocol) || parsed.host === "") {
    const shown = JSON.stringify(url);
    throw new TypeError(`url: ws://, wss://, http:// or https:// with a host, not ${shown}`);
  }
  return url;
}

export function checkTopic(topic: string): string {
  if (!TOPIC.test(topic)) {
    throw new TypeError(`topic: 1-128 characters without whitespace, commas or controls`);
  }
  return topic;
}

/**
 * Whether `cursor` comes before `last` in the same log. Cursors are `<log>-<seq>`: only
 * cursors of one log (same prefix) are comparable; others are left to the seen-set.
 */
export function olderInSameLog(cursor: string, last: string | undefined): boolean {
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
export function tokenExpiry(token: string): number | undefined {
  try {
    const part = token.split(".")[1] ?? "";
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    return typeof exp === "number" ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}
