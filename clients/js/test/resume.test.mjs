// Resuming against a real gateway (tests/support/js_control.py): a resync when what was
// missed is gone, a complete resume across two replicas on one Redis, and when the cursor
// may move. Run by tests/browser/test_js_client.py (or `npm test`).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { ControlledGateway, openClient as open } from "./harness.mjs";

describe("against a gateway with a short history", () => {
  test("resync when what was missed is gone (complete: false), then the survivors", async () => {
    const gateway = await ControlledGateway.start({ history_size: 2 });
    try {
      const { client, seen, userId } = open(gateway, { minReconnectDelay: 800, maxReconnectDelay: 800 });
      client.connect();
      await seen.state("connected");
      const dropped = seen.state("disconnected");
      await gateway.call({ cmd: "disconnect", user_id: userId, code: 4008 });
      await dropped;
      for (let i = 0; i < 4; i++) await gateway.publish({ users: [userId], type: `gone.${i}` });
      const resync = await seen.next("resync", () => true, 3000);
      assert.equal(resync.args[0].replayed, 2);
      await seen.seenOrNext("notification", (n) => n.type === "gone.3");
      const types = seen.named("notification").map(([n]) => n.type);
      assert.deepEqual(types, ["gone.2", "gone.3"]);
      client.close();
    } finally {
      await gateway.close();
    }
  });
});

describe("against two replicas on one Redis", () => {
  let a, b;
  before(async () => {
    [a, b] = await ControlledGateway.pairOnRedis();
  });
  after(async () => {
    await b?.close();
    await a?.close(); // it runs the redis-server
  });

  test("a restart resumes completely: what another replica published meanwhile, no resync", async () => {
    // Records the frames too: the client shows a complete resume only by the absence of resync.
    const frames = [];
    class RecordingSocket extends WebSocket {
      constructor(...args) {
        super(...args);
        this.addEventListener("message", (m) => frames.push(JSON.parse(m.data)));
      }
    }
    const { client, seen, userId } = open(a, { topics: ["news"], WebSocket: RecordingSocket });
    client.connect();
    await seen.state("connected", 10_000);
    // Two replicas: published through B, delivered live on A.
    const live = seen.notification("live.from.b", 10_000);
    const { cursor: before } = await b.publish({ users: [userId], type: "live.from.b" });
    assert.equal((await live).args[1], before);

    const dropped = seen.state("disconnected", 10_000);
    await a.call({ cmd: "stop" });
    assert.equal((await dropped).args[0].code, 1001);
    const missed = [];
    for (const target of [{ users: [userId] }, { topic: "news" }]) {
      missed.push((await b.publish({ ...target, type: "while.a.was.down" })).cursor);
    }
    await b.publish({ users: ["someone-else"], type: "not.for.this.user" });
    await seen.seenOrNext("state", (c) => c.state === "disconnected" && c.code === 1006, 10_000);
    frames.length = 0;
    const connected = seen.state("connected", 15_000);
    await a.call({ cmd: "resume" }); // the same port
    await connected;
    for (const cursor of missed) {
      await seen.seenOrNext("notification", (n, at) => at === cursor, 10_000);
    }
    assert.deepEqual(seen.named("resync"), []);
    const resumed = frames.filter((f) => f.event === "resumed");
    assert.deepEqual(resumed, [{ event: "resumed", since: before, complete: true, replayed: 2 }]);
    assert.equal(client.lastCursor, missed[1]);
    const types = seen.named("notification").map(([n]) => n.type);
    assert.deepEqual(types, ["live.from.b", "while.a.was.down", "while.a.was.down"]);
    client.close();
  });
});

test("asked with since, no notification before the resumed event moves the cursor", async () => {
  // Issue 15, fault path 1: a gateway whose replay read failed sent the welcome and live
  // frames, then 1013. A cursor taken from them made the next resume skip the range never
  // replayed. The notification still reaches the app; only `resumed` lets the cursor move.
  const { ResumePoint } = await import("../dist/resume.js");
  const point = new ResumePoint("e.10-0", 64);
  point.opened();
  point.welcome("e.90-0");
  assert.equal(point.accept("e.90-0"), true);
  assert.equal(point.cursor, "e.10-0");
  point.opened(); // the reconnect after 1013 resumes from where the replay should start
  point.welcome("e.95-0");
  point.resumed(3);
  assert.equal(point.accept("e.11-0"), true);
  assert.equal(point.cursor, "e.11-0");
  const fresh = new ResumePoint(undefined, 64); // no since: live frames move it at once
  fresh.opened();
  fresh.welcome("e.1-0");
  fresh.accept("e.2-0");
  assert.equal(fresh.cursor, "e.2-0");
});
