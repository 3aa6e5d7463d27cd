/**
 * The WebSocket of one attempt. `dial` opens it: the query names the user, the topics
 * followed and the cursor to resume after; the token goes where `tokenIn` says, offered as
 * the subprotocol entry `bearer.<jwt>` next to `notifications.v1` (the default) or as
 * `token=`. `listen` routes its text frames and its end to the client; `silence` undoes that.
 */

import type { ClientOptions, WebSocketConstructor } from "./options.js";
import { SUBPROTOCOL } from "./policy.js";

export interface Attempt {
  userId: string;
  topics: string[];
  since: string | undefined;
  token: string | undefined;
  tokenIn: NonNullable<ClientOptions["tokenIn"]>;
}

export interface SocketHandlers {
  text: (text: string) => void;
  /** The connection ended: a close event, or an error (as 1006). */
  closed: (code: number, reason: string) => void;
}

/** Throws what the constructor throws: with a URL checked up front, a token it refused. */
export function dial(Socket: WebSocketConstructor, base: string, attempt: Attempt): WebSocket {
  const { token, tokenIn } = attempt;
  const query = new URLSearchParams({ user_id: attempt.userId });
  if (attempt.topics.length > 0) query.set("topics", attempt.topics.join(","));
  if (attempt.since !== undefined) query.set("since", attempt.since);
  if (token !== undefined && tokenIn === "query") query.set("token", token);
  const url = base + (base.includes("?") ? "&" : "?") + query.toString();
  // Chromium fails a connection that offered subprotocols none of which was selected, so
  // nothing is offered without a token (a gateway without JWT need not know the name).
  return token !== undefined && tokenIn === "protocol"
    ? new Socket(url, [SUBPROTOCOL, "bearer." + token])
    : new Socket(url);
}

/** Routes the socket's events to `on` for as long as `current()` holds. */
export function listen(ws: WebSocket, current: () => boolean, on: SocketHandlers): void {
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

export function silence(ws: WebSocket): void {
  ws.onmessage = null;
  ws.onclose = null;
  ws.onerror = null;
}
