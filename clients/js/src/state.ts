/**
 * The client's connection state and its `state` events. One event per change; a repeated
 * `disconnected` is an event too, since each names the next retry's delay.
 */

import type { ConnectionState, StateChange } from "./options.js";

export interface StateDetail {
  code?: number | undefined;
  reason?: string;
  delay?: number;
}

export class ConnectionStates {
  private current: ConnectionState = "disconnected";

  constructor(private readonly emit: (change: StateChange) => void) {}

  get state(): ConnectionState {
    return this.current;
  }

  /** Moves to `state`, and says so unless it was already there. */
  set(state: ConnectionState, detail: StateDetail = {}): void {
    const previous = this.current;
    if (state === previous && state !== "disconnected") return;
    this.current = state;
    const change: StateChange = { state, previous };
    if (detail.code !== undefined) change.code = detail.code;
    if (detail.reason !== undefined) change.reason = detail.reason;
    if (detail.delay !== undefined) change.delay = detail.delay;
    this.emit(change);
  }
}
