/**
 * `ResumePoint`: where the client resumes from, and which notifications it already handed
 * to the app. The cursor starts at `since` (or at the log head the first welcome names),
 * moves past every notification delivered, and goes as `since` on every reconnect. A
 * notification whose cursor is among the last `dedupSize` seen, or older than the cursor in
 * the same log (a replay after a failover to a lagging replica), is a duplicate.
 */

import { olderInSameLog } from "./policy.js";

export class ResumePoint {
  /** The cursor to resume after. */
  cursor: string | undefined;
  /** The cursor the current connection resumed from (undefined: it started at the head). */
  private from: string | undefined;
  /** The log head the last welcome named. */
  private head: string | undefined;
  private readonly seen = new Set<string>();
  /**
   * Asked with `since` and no `resumed` event yet: no notification moves the cursor. A
   * gateway whose replay read failed once sent live frames and then 1013; a cursor taken
   * from them made the next resume skip the range never replayed (issue 15, fault path 1).
   */
  private awaitingResumed = false;

  constructor(
    since: string | undefined,
    private readonly dedupSize: number,
  ) {
    this.cursor = since;
  }

  /** A connection opened: it resumes after the cursor as it is now. */
  opened(): void {
    this.from = this.cursor;
    this.awaitingResumed = this.from !== undefined;
  }

  welcome(head: string): void {
    this.head = head;
    if (this.from === undefined) this.cursor = head;
  }

  /** Nothing replayed: the head is as good a place to resume from as `since`. */
  resumed(replayed: number): void {
    this.awaitingResumed = false;
    if (replayed === 0) this.cursor = this.head;
  }

  /** True for a notification not handed over yet (the cursor moves to it); false: a duplicate. */
  accept(cursor: string): boolean {
    if (this.seen.has(cursor) || olderInSameLog(cursor, this.cursor)) return false;
    this.seen.add(cursor);
    if (this.seen.size > this.dedupSize) {
      const oldest = this.seen.values().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
    if (!this.awaitingResumed) this.cursor = cursor;
    return true;
  }
}
