/**
 * The channel of one attempt, whatever carries it: a WebSocket (`dialWebSocket`) or an SSE
 * stream with its ops posted beside it (sse.ts). The client sees only `Channel`: ops go out
 * with `send`, the gateway's events come in as the same JSON text either way (`text`), and
 * the end as a close code (`closed`; a broken line is 1006, as on WebSocket).
 *
 * WebSocket: the query names the user, the topics followed and the cursor to resume after;
 * the token goes where `tokenIn` says, offered as the subprotocol entry `bearer.<jwt>` next to
 * `notifications.v1` (the default) or as `token=`.
 */

import type { ClientOptions, WebSocketConstructor } from "./options.js";
import { SUBPROTOCOL } from "./policy.js";
import type { ClientOp } from "./protocol.js";

export interface Attempt {
  userId: string;
  topics: string[];
  since: string | undefined;
  token: string | undefined;
  tokenIn: NonNullable<ClientOptions["tokenIn"]>;
}

export interface ChannelHandlers {
  text: (text: string) => void;
  /** The connection ended: a close event, or an error (as 1006). */
  closed: (code: number, reason: string) => void;
}

export interface Channel {
  readonly kind: "websocket" | "sse";
  /** The WebSocket itself (tests send it what the client never would); none on SSE. */
  readonly socket?: WebSocket;
  /** Whether the gateway applies a `refresh` op here (it speaks `notifications.v1`). */
  readonly refreshes: boolean;
  /** Sends one op if the channel is open; false if it is not (yet). */
  send(op: ClientOp): boolean;
  /** Ends the channel; its handlers are silenced first. */
  close(code: number, reason: string): void;
}

/** The query both transports share: user, topics, resume cursor (and the token if asked). */
export function connectQuery(attempt: Attempt): URLSearchParams {
  const query = new URLSearchParams({ user_id: attempt.userId });
  if (attempt.topics.length > 0) query.set("topics", attempt.topics.join(","));
  if (attempt.since !== undefined) query.set("since", attempt.since);
  if (attempt.token !== undefined && attempt.tokenIn === "query") query.set("token", attempt.token);
  return query;
}

export function withQuery(base: string, query: URLSearchParams): string {
  return base + (base.includes("?") ? "&" : "?") + query.toString();
}

/** Throws what the constructor throws: with a URL checked up front, a token it refused. */
export function dialWebSocket(
  Socket: WebSocketConstructor,
  base: string,
  attempt: Attempt,
  current: () => boolean,
  on: ChannelHandlers,
): Channel {
  const url = withQuery(base, connectQuery(attempt));
  const { token, tokenIn } = attempt;
  // Chromium fails a connection that offered subprotocols none of which was selected, so
  // nothing is offered without a token (a gateway without JWT need not know the name).
  const ws =
    token !== undefined && tokenIn === "protocol"
      ? new Socket(url, [SUBPROTOCOL, "bearer." + token])
      : new Socket(url);
  listen(ws, current, on);
  return {
    kind: "websocket",
    socket: ws,
    get refreshes() {
      return ws.protocol === SUBPROTOCOL;
    },
    send(op) {
      if (ws.readyState !== 1) return false;
      ws.send(JSON.stringify(op));
      return true;
    },
    close(code, reason) {
      silence(ws);
      try {
        ws.close(code, reason);
      } catch {
        // a socket still connecting may refuse; it is forgotten either way
      }
    },
  };
}

/** Routes the socket's events to `on` for as long as `current()` holds. */
function listen(ws: WebSocket, current: () => boolean, on: ChannelHandlers): void {
  ws.onmessage = (message) => {
    if (current() && typeof message.data === "string") on.text(message.data);
  };
  ws.onclose = (event) => {
    if (current()) on.closed(event.code, event.reason);
  };
  // An error always means a failed connection (close code 1006); some implementations
  // (Node 20's) never fire the close event that should follow it.
  ws.onerror = () => {
    if (!current()) return;
    on.closed(1006, "connection failed");
    try {
      ws.close();
    } catch {
      // already closed
    }
  };
}

function silence(ws: WebSocket): void {
  ws.onmessage = null;
  ws.onclose = null;
  ws.onerror = null;
}
