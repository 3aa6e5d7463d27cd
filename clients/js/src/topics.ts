/**
 * `Topics`: the topics the client follows (asked for on every reconnect), and the subscribe
 * ops still unanswered on the current connection. The gateway answers ops in order, so a
 * refused subscribe (not allowed by the token, or one topic too many) is the oldest one
 * unanswered: that topic is dropped, or every reconnect would ask for it again and be refused.
 */

import { checkTopic } from "./policy.js";

export class Topics {
  private readonly followed = new Set<string>();
  /** Subscribe ops sent and not yet answered, oldest first. */
  private asked: string[] = [];

  constructor(topics: Iterable<string>) {
    for (const topic of topics) this.follow(topic);
  }

  list(): string[] {
    return [...this.followed];
  }

  /** Throws a `TypeError` for a topic the gateway would refuse. */
  follow(topic: string): void {
    this.followed.add(checkTopic(topic));
  }

  /** False when the topic was not followed. */
  drop(topic: string): boolean {
    return this.followed.delete(topic);
  }

  asking(topic: string): void {
    this.asked.push(topic);
  }

  answered(topic: string): void {
    const index = this.asked.indexOf(topic);
    if (index >= 0) this.asked.splice(index, 1);
  }

  /** A subscribe was refused: the topic it asked for, no longer followed. */
  refused(): string | undefined {
    const topic = this.asked.shift();
    if (topic !== undefined) this.followed.delete(topic);
    return topic;
  }

  /** The connection ended: its ops will never be answered. */
  forgetAsked(): void {
    this.asked = [];
  }

  /**
   * Against the topics a welcome granted (they may have changed while the upgrade was in
   * flight): those followed but not granted, and those granted but no longer followed.
   */
  compare(granted: readonly string[]): { missing: string[]; extra: string[] } {
    const got = new Set(granted);
    return {
      missing: [...this.followed].filter((topic) => !got.has(topic)),
      extra: [...got].filter((topic) => !this.followed.has(topic)),
    };
  }
}
