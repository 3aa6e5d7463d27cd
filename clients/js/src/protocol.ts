/**
 * The WebSocket protocol `notifications.v1` as TypeScript types.
 *
 * These follow `clients/protocol/notifications.v1.schema.json` (JSON Schema of every event
 * and op); the gateway's end-to-end tests check every frame they receive against that
 * schema. This module holds types only: it emits no JavaScript.
 */

/** The subprotocol the client offers and the gateway selects. */
export type Subprotocol = "notifications.v1";

export type Priority = "low" | "normal" | "high" | "urgent";

/** A notification exactly as published: `data` is the JSON object the backend sent. */
export interface Notification<Type extends string = string, Data = Record<string, unknown>> {
  id: string;
  type: Type;
  title: string;
  body: string;
  data: Data;
  priority: Priority;
  /** RFC 3339 time, milliseconds, `Z`. */
  created_at: string;
}

/**
 * What an app declares: each notification `type` it handles mapped to the shape of its
 * `data`, e.g. `{ "order.shipped": { order: number } }`.
 */
export type NotificationTypes = Record<string, unknown>;

/** The default when an app declares nothing: any type, `data` a JSON object. */
export type UntypedNotifications = Record<string, Record<string, unknown>>;

/** The discriminated union of notifications an app's `Types` map describes. */
export type TypedNotification<Types extends NotificationTypes> = {
  [K in keyof Types & string]: Notification<K, Types[K]>;
}[keyof Types & string];

// --- server → client events -------------------------------------------------------------

export interface WelcomeEvent {
  event: "welcome";
  user_id: string;
  topics: string[];
  /** The log head: resume from here even if nothing arrives. */
  cursor: string;
  /** Seconds between the server's WebSocket pings. */
  heartbeat: number;
  /** Present and true when the gateway applies `ack` and `read` (receipts are on). */
  receipts?: boolean;
  /** SSE only: this stream's id, which its ops are posted with (`POST /sse/ops`). */
  stream?: string;
}

export interface ResumedEvent {
  event: "resumed";
  since: string;
  /** false: some of what was missed is gone; refetch state. */
  complete: boolean;
  replayed: number;
}

export interface NotificationEvent {
  event: "notification";
  cursor: string;
  notification: Notification;
}

export interface SubscribedEvent {
  event: "subscribed";
  topic: string;
}

export interface UnsubscribedEvent {
  event: "unsubscribed";
  topic: string;
}

export interface PongEvent {
  event: "pong";
}

export interface RefreshedEvent {
  event: "refreshed";
  /** Unix seconds when the new token expires. */
  expires_at: number;
}

export interface ErrorEvent {
  event: "error";
  code: string;
  field?: string;
  message: string;
}

/** SSE only: the last event of a stream the server ends, with the WebSocket close code. */
export interface CloseEvent {
  event: "close";
  code: number;
  reason: string;
}

export type ServerEvent =
  | WelcomeEvent
  | ResumedEvent
  | NotificationEvent
  | SubscribedEvent
  | UnsubscribedEvent
  | PongEvent
  | RefreshedEvent
  | ErrorEvent
  | CloseEvent;

// --- client → server ops ----------------------------------------------------------------

export interface SubscribeOp {
  op: "subscribe";
  topic: string;
}

export interface UnsubscribeOp {
  op: "unsubscribe";
  topic: string;
}

export interface PingOp {
  op: "ping";
}

export interface RefreshOp {
  op: "refresh";
  token: string;
}

/** Receipts: everything up to `cursor` reached this client (cumulative). */
export interface AckOp {
  op: "ack";
  cursor: string;
}

/** Receipts: the person saw the notification `id`. */
export interface ReadOp {
  op: "read";
  id: string;
}

export type ClientOp = SubscribeOp | UnsubscribeOp | PingOp | RefreshOp | AckOp | ReadOp;
