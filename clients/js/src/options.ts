/** What an app passes to the client and what the client emits (types only: no JavaScript). */

import type { NotificationTypes, TypedNotification } from "./protocol.js";

export type ConnectionState = "connecting" | "connected" | "disconnected" | "closed";

export interface StateChange {
  state: ConnectionState;
  previous: ConnectionState;
  /** The close code that caused `disconnected` or `closed`, when there was one. */
  code?: number;
  reason?: string;
  /** `disconnected`: milliseconds until the next attempt. */
  delay?: number;
}

export interface ResyncInfo {
  /** The cursor the client resumed from. */
  since: string;
  /** How many missed notifications the gateway still had (they follow as `notification`s). */
  replayed: number;
}

export interface ClientError {
  /** `server`: an `error` event; `close`: closed for a client bug; `token`: getToken failed. */
  kind: "server" | "close" | "token";
  code: string | number;
  message: string;
  field?: string;
  /** `forbidden_topic`, `too_many_topics`: the topic refused (no longer followed). */
  topic?: string;
}

export interface ClientEvents<Types extends NotificationTypes> {
  notification: (notification: TypedNotification<Types>, cursor: string) => void;
  state: (change: StateChange) => void;
  resync: (info: ResyncInfo) => void;
  error: (error: ClientError) => void;
  subscribed: (topic: string) => void;
  unsubscribed: (topic: string) => void;
  /** Receipts: an `ack` up to `cursor` went to the gateway (it counts them delivered). */
  acked: (cursor: string) => void;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocket;

export interface ClientOptions {
  userId: string;
  /** Topics to follow from the start. */
  topics?: Iterable<string>;
  /** Called before every (re)connect and before the token expires. */
  getToken?: () => string | Promise<string>;
  /** `protocol` (default): `Sec-WebSocket-Protocol: notifications.v1, bearer.<jwt>`; `query`: `?token=`. */
  tokenIn?: "protocol" | "query";
  /** Resume after this cursor (one the app kept, e.g. across page loads). */
  since?: string;
  /** Backoff bounds in ms (defaults 500 and 20000). */
  minReconnectDelay?: number;
  maxReconnectDelay?: number;
  /** App-level ping every `pingInterval` ms (25000); no frame within `pongTimeout` (10000) = dead. */
  pingInterval?: number;
  pongTimeout?: number;
  /** Give up on an attempt with no `welcome` within this many ms (10000). */
  connectTimeout?: number;
  /** Refresh the token this many ms before it expires (30000). */
  refreshBefore?: number;
  /** How many recent cursors are remembered to drop duplicates (512). */
  dedupSize?: number;
  /**
   * Receipts: acknowledge notifications handed to the app (true), to a gateway that runs
   * with receipts; `false` sends none. Acks are cumulative and throttled: a notification
   * that comes after `ackInterval` ms (1000) without an ack is acked at once (sparse
   * notifications: publish-to-ack is what the person sees); within a burst, one ack per
   * `ackInterval` covers everything owed, or one as soon as `ackEvery` (100) are owed.
   */
  acks?: boolean;
  ackInterval?: number;
  ackEvery?: number;
  /** A WebSocket implementation (default: `globalThis.WebSocket`). */
  WebSocket?: WebSocketConstructor;
  /**
   * `websocket` (default), `sse` (Server-Sent Events at the same host's `/sse`, for networks
   * that do not pass a WebSocket upgrade), or `auto`: WebSocket, falling back to SSE after
   * two attempts in a row fail before their welcome, and trying WebSocket again on the first
   * reconnect `retryWebSocket` ms (300000) later.
   */
  transport?: "auto" | "websocket" | "sse";
  retryWebSocket?: number;
  /** A fetch implementation for SSE (default: `globalThis.fetch`). */
  fetch?: typeof globalThis.fetch;
}
