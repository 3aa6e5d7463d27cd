/**
 * `TokenRefresher`: when to renew the token of an open connection. Armed with the token the
 * connection opened with (its `exp` claim) or with the expiry a `refreshed` event names, it
 * calls `due` `refreshBefore` ms ahead of that expiry (at least 1 s from now); the client
 * then fetches a fresh token and sends the `refresh` op. One timer at a time: arming again
 * replaces it, `cancel()` clears it.
 */

import { tokenExpiry } from "./policy.js";

/** The longest delay setTimeout honours. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class TokenRefresher {
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly refreshBefore: number,
    private readonly due: () => void,
  ) {}

  /** Arms from a token's `exp`; no token, or one without `exp`, leaves the timer as it is. */
  schedule(token: string | undefined): void {
    const expires = token === undefined ? undefined : tokenExpiry(token);
    if (expires !== undefined) this.at(expires);
  }

  /** Arms for a token that expires at `expiresAtMs` (unix milliseconds). */
  at(expiresAtMs: number): void {
    clearTimeout(this.timer);
    const delay = Math.max(1_000, expiresAtMs - Date.now() - this.refreshBefore);
    // setTimeout fires at once for a delay over 2^31 - 1 ms (24.8 days): a token valid
    // longer would be refreshed in a loop. Such a wait is taken in steps.
    this.timer =
      delay > MAX_TIMER_MS
        ? setTimeout(() => this.at(expiresAtMs), MAX_TIMER_MS)
        : setTimeout(() => this.due(), delay);
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
