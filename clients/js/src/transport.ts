/**
 * Which transport the next attempt uses. `websocket` and `sse` are fixed; `auto` starts with
 * WebSocket and falls back to SSE after `AUTO_FAILURES` WebSocket attempts in a row ended
 * before their welcome (what a proxy that strips `Upgrade`, or answers without upgrading,
 * looks like to a browser: a failed connection, 1006), and tries WebSocket again on the
 * first reconnect `retryWebSocket` ms after the fallback. `dial` opens the chosen one.
 */

import type { WebSocketConstructor } from "./options.js";
import { type Attempt, type Channel, type ChannelHandlers, dialWebSocket } from "./socket.js";
import { dialSse, type FetchFunction } from "./sse.js";

export type TransportChoice = "auto" | "websocket" | "sse";
export type TransportKind = "websocket" | "sse";

/** WebSocket attempts that fail before their welcome, in a row, before `auto` uses SSE. */
export const AUTO_FAILURES = 2;

export class TransportChooser {
  private failures = 0;
  private fellBackAt: number | undefined;

  constructor(
    private readonly choice: TransportChoice,
    private readonly retryWebSocket: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The transport for the next attempt. */
  next(): TransportKind {
    if (this.choice !== "auto") return this.choice;
    if (this.fellBackAt === undefined) return "websocket";
    if (this.now() - this.fellBackAt < this.retryWebSocket) return "sse";
    this.fellBackAt = undefined; // time to see whether WebSocket passes now
    this.failures = AUTO_FAILURES - 1; // one more failure goes back to SSE at once
    return "websocket";
  }

  /** An attempt reached its welcome. */
  connected(kind: TransportKind): void {
    if (kind === "websocket") this.failures = 0;
  }

  /** An attempt ended before its welcome. */
  failed(kind: TransportKind): void {
    if (this.choice !== "auto" || kind !== "websocket") return;
    this.failures += 1;
    if (this.failures >= AUTO_FAILURES) {
      this.failures = 0;
      this.fellBackAt = this.now();
    }
  }
}

/** What each transport dials with: the options' `WebSocket` and `fetch`, else the globals. */
export interface Dialers {
  Socket: WebSocketConstructor | undefined;
  fetch: FetchFunction | undefined;
}

/** Opens one attempt's channel on `kind`; throws what `dialWebSocket` throws. */
export function dial(
  kind: TransportKind,
  dialers: Dialers,
  url: string,
  attempt: Attempt,
  current: () => boolean,
  handlers: ChannelHandlers,
): Channel {
  return kind === "sse"
    ? dialSse(dialers.fetch ?? globalThis.fetch, url, attempt, current, handlers)
    : dialWebSocket(dialers.Socket ?? globalThis.WebSocket, url, attempt, current, handlers);
}
