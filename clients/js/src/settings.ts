/**
 * `settingsOf`: every client option with its default filled in, in one table.
 *
 * Apart from index.ts because the defaults are a contract of their own (options.ts and the
 * README document them) and the client class should hold resolved values only: each part
 * it builds (watchdog, token refresher, acks, transport choice) takes its numbers from here.
 */

import type { AckTimes } from "./acks.js";
import type { ClientOptions } from "./options.js";
import type { TransportChoice } from "./transport.js";

export interface Settings {
  tokenIn: "protocol" | "query";
  minReconnectDelay: number;
  maxReconnectDelay: number;
  pingInterval: number;
  pongTimeout: number;
  connectTimeout: number;
  refreshBefore: number;
  dedupSize: number;
  /** Receipts' ack timing; undefined when the app turned acks off. */
  acks: AckTimes | undefined;
  transport: TransportChoice;
  retryWebSocket: number;
}

export function settingsOf(options: ClientOptions): Settings {
  return {
    tokenIn: options.tokenIn ?? "protocol",
    minReconnectDelay: options.minReconnectDelay ?? 500,
    maxReconnectDelay: options.maxReconnectDelay ?? 20_000,
    pingInterval: options.pingInterval ?? 25_000,
    pongTimeout: options.pongTimeout ?? 10_000,
    connectTimeout: options.connectTimeout ?? 10_000,
    refreshBefore: options.refreshBefore ?? 30_000,
    dedupSize: options.dedupSize ?? 512,
    acks:
      options.acks === false
        ? undefined
        : { interval: options.ackInterval ?? 1000, every: options.ackEvery ?? 100 },
    transport: options.transport ?? "websocket",
    retryWebSocket: options.retryWebSocket ?? 300_000,
  };
}
