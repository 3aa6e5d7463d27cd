// The client's logic against a real gateway (tests/support/js_control.py): reconnect after a
// restart (memory log: resync), resume with topics added after connect, the close-code
// policy, the ping watchdog and de-duplication; what a resume across a short history or
// replicas brings is resume.test.mjs's. Run by tests/browser/test_js_client.py (or `npm test`).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { CLOSE_POLICY, NotificationClient, closeAction } from "../dist/index.js";
import { ControlledGateway, fast, openClient as open, sleep } from "./harness.mjs";

test("the close-code policy is the owner's table, in one exported constant", () => {
  const want = {
    stop: [1000, 4009],
    reconnect: [1001, 1006, 1011, 1012, 1013, 4008, 4010],
    refresh: [4001],
    fail: [1002, 1003, 1007, 1008, 1009],
  };
  for (const [action, codes] of Object.entries(want)) {
    for (const code of codes) assert.equal(closeAction(code), action, `code ${code}`);
  }
  assert.equal(Object.keys(CLOSE_POLICY).length, Object.values(want).flat().length);
  assert.equal(closeAction(1005), "reconnect"); // unlisted: the line dropped
  assert.ok(Object.isFrozen(CLOSE_POLICY));
});

test("a malformed URL throws at once (it left the client connecting forever)", () => {
  for (const url of ["notaurl", "ftp://h/ws", "ws://[::1/ws", "/ws"]) {
    assert.throws(() => new NotificationClient(url, { userId: "u" }), TypeError, url);
  }
  for (const url of ["ws://h/ws", "wss://h:8443/ws?x=1", "http://[::1]:80/ws", "HTTPS://h/ws"]) {
    assert.equal(new NotificationClient(url, { userId: "u" }).url, url);
  }
});

test("a token the WebSocket constructor refuses is an error and a retry, not a hang", async () => {
  const tokens = ["not a jwt", "still not"];
  const client = new NotificationClient("ws://127.0.0.1:1/ws", {
    userId: "u",
    ...fast,
    getToken: () => tokens.shift() ?? "a.b.c",
  });
  const errors = [];
  const states = [];
  client.on("error", (error) => errors.push(error));
  client.on("state", (change) => states.push(change.state));
  client.connect();
  for (let i = 0; i < 100 && states.filter((s) => s === "disconnected").length < 3; i++) {
    await sleep(20);
  }
  client.close();
  assert.deepEqual(
    errors.map((e) => [e.kind, e.code]),
    [["token", "unusable_token"], ["token", "unusable_token"]],
  );
  assert.ok(errors.every((e) => !e.message.includes("not a jwt")));
  assert.ok(states.filter((s) => s === "disconnected").length >= 3, states.join()); // retried
});

test("backoff: full jitter between the minimum and min × 2^(attempt+1), capped", () => {
  const client = new NotificationClient("ws://127.0.0.1:1/ws", { userId: "u" });
  for (const [attempt, low, high] of [[0, 500, 1000], [1, 500, 2000], [3, 500, 8000], [9, 500, 20000]]) {
    client["attempt"] = attempt;
    const delays = Array.from({ length: 400 }, () => client["backoff"]());
    assert.ok(Math.min(...delays) >= low && Math.max(...delays) <= high, `attempt ${attempt}`);
    assert.ok(Math.max(...delays) - Math.min(...delays) > (high - low) / 2, "spread out");
  }
});

describe("against a gateway", () => {
  let gateway;
  before(async () => {
    gateway = await ControlledGateway.start();
  });
  after(async () => {
    await gateway.close();
  });

  test("connects, reports states, delivers to the user, a topic and everyone", async () => {
    const { client, seen, userId } = open(gateway, { topics: ["news"] });
    const connected = seen.state("connected");
    client.connect();
    await connected;
    assert.deepEqual(
      seen.named("state").map(([c]) => c.state),
      ["connecting", "connected"],
    );
    for (const [target, type] of [
      [{ users: [userId] }, "to.user"],
      [{ topic: "news" }, "to.topic"],
      [{ everyone: true }, "to.all"],
    ]) {
      const got = seen.notification(type);
      const { cursor } = await gateway.publish({ ...target, type, data: { n: 1 } });
      const [n, at] = (await got).args;
      assert.equal(at, cursor);
      assert.deepEqual(n.data, { n: 1 });
      assert.equal(client.lastCursor, cursor);
    }
    client.close();
    assert.equal(client.state, "closed");
  });

  test("resumes with since and every topic followed, including those added after connect", async () => {
    const { client, seen, userId } = open(gateway, {
      topics: ["t-a"],
      minReconnectDelay: 600,
      maxReconnectDelay: 700,
    });
    client.connect();
    await seen.state("connected");
    const subscribed = seen.next("subscribed", (t) => t === "t-b");
    client.subscribe("t-b");
    await subscribed;
    const dropped = seen.state("disconnected");
    await gateway.call({ cmd: "disconnect", user_id: userId, code: 4008 });
    assert.equal((await dropped).args[0].code, 4008);
    // Published while the client waits to reconnect: only a resume can bring them.
    const missed = [];
    for (const target of [{ topic: "t-b" }, { topic: "t-a" }, { users: [userId] }]) {
      missed.push((await gateway.publish({ ...target, type: "while.away" })).cursor);
    }
    await seen.state("connected");
    for (const cursor of missed) {
      await seen.seenOrNext("notification", (n, at) => at === cursor);
    }
    assert.deepEqual(seen.named("resync"), []);
    assert.deepEqual(client.topics, ["t-a", "t-b"]);
    client.close();
  });

  test("dedup: notifications replayed twice reach the app once", async () => {
    const { client, seen, userId } = open(gateway, { minReconnectDelay: 300, maxReconnectDelay: 300 });
    client.connect();
    await seen.state("connected");
    const start = client.lastCursor;
    for (let i = 0; i < 3; i++) {
      const got = seen.notification(`seen.${i}`);
      await gateway.publish({ users: [userId], type: `seen.${i}` });
      await got;
    }
    // Rewind as a failover to a lagging replica would: the gateway replays all three again.
    client["resume"].cursor = start;
    const dropped = seen.state("disconnected");
    await gateway.call({ cmd: "disconnect", user_id: userId, code: 4010 });
    await dropped;
    const fresh = await gateway.publish({ users: [userId], type: "fresh" });
    await seen.state("connected");
    await seen.seenOrNext("notification", (n, at) => at === fresh.cursor);
    await sleep(200);
    const types = seen.named("notification").map(([n]) => n.type);
    assert.deepEqual(types, ["seen.0", "seen.1", "seen.2", "fresh"]);
    client.close();
  });

  test("4009 and 1000 from the backend stop the client; nothing reconnects", async () => {
    for (const code of [4009, 1000]) {
      const { client, seen, userId } = open(gateway);
      client.connect();
      await seen.state("connected");
      const closed = seen.state("closed");
      await gateway.call({ cmd: "disconnect", user_id: userId, code, reason: "logged out" });
      const change = (await closed).args[0];
      assert.equal(change.code, code);
      await sleep(400); // several backoff periods
      assert.equal(client.state, "closed");
      assert.deepEqual(seen.named("error"), []);
    }
  });

  test("1008 and 1009 (a client bug) stop the client and report an error", async () => {
    const abuse = {
      1008: (ws) => {
        for (let i = 0; i < 10; i++) ws.send("not json");
      },
      1009: (ws) => ws.send(JSON.stringify({ op: "subscribe", topic: "x".repeat(20000) })),
    };
    for (const [code, send] of Object.entries(abuse)) {
      const { client, seen } = open(gateway);
      client.connect();
      await seen.state("connected");
      const failed = seen.next("error", (e) => e.kind === "close");
      const closed = seen.state("closed");
      send(client["channel"].socket);
      assert.equal((await failed).args[0].code, Number(code));
      assert.equal((await closed).args[0].code, Number(code));
      await sleep(300);
      assert.equal(client.state, "closed");
    }
  });

  test("4008 and 4010 reconnect and resume without a resync", async () => {
    for (const code of [4008, 4010]) {
      const { client, seen, userId } = open(gateway);
      client.connect();
      await seen.state("connected");
      const dropped = seen.state("disconnected");
      await gateway.call({ cmd: "disconnect", user_id: userId, code });
      assert.equal((await dropped).args[0].code, code);
      await seen.state("connected");
      assert.deepEqual(seen.named("resync"), []);
      client.close();
    }
  });

  test("server errors surface as error events and the connection stays", async () => {
    const { client, seen } = open(gateway);
    client.connect();
    await seen.state("connected");
    const error = seen.next("error");
    client["channel"].socket.send(JSON.stringify({ op: "nope" }));
    const e = (await error).args[0];
    assert.equal(e.kind, "server");
    assert.equal(e.code, "bad_frame");
    assert.equal(e.field, "op");
    assert.equal(client.state, "connected");
    assert.throws(() => client.subscribe("a,b"), TypeError);
    client.close();
  });

  test("the ping watchdog drops a gateway that stopped answering, then reconnects", async () => {
    const { client, seen, userId } = open(gateway, { pingInterval: 200, pongTimeout: 300 });
    client.connect();
    await seen.state("connected");
    const dropped = seen.state("disconnected", 3000);
    const frozen = gateway.call({ cmd: "freeze", seconds: 1.2 });
    const change = (await dropped).args[0];
    const reconnected = seen.state("connected", 8000);
    assert.equal(change.code, 4000);
    assert.match(change.reason, /ping/);
    // A handshake the frozen gateway cannot answer is abandoned too.
    const late = open(gateway, { connectTimeout: 300 });
    const gaveUp = late.seen.state("disconnected", 3000);
    const lateConnected = late.seen.state("connected", 8000);
    late.client.connect();
    assert.match((await gaveUp).args[0].reason, /welcome/);
    await frozen;
    await lateConnected;
    late.client.close();
    await reconnected;
    const got = seen.notification("after.freeze");
    await gateway.publish({ users: [userId], type: "after.freeze" });
    await got;
    client.close();
  });

  test("browser hooks: offline drops the line, online and a visible page reconnect at once", async () => {
    // Node has no window or document: stand-ins that dispatch the events browsers do.
    const win = new EventTarget();
    const doc = Object.assign(new EventTarget(), { visibilityState: "visible" });
    globalThis.addEventListener = win.addEventListener.bind(win);
    globalThis.removeEventListener = win.removeEventListener.bind(win);
    globalThis.document = doc;
    try {
      const { client, seen } = open(gateway, { minReconnectDelay: 30_000, maxReconnectDelay: 30_000 });
      client.connect();
      await seen.state("connected");
      const dropped = seen.state("disconnected");
      win.dispatchEvent(new Event("offline"));
      assert.equal((await dropped).args[0].reason, "offline");
      const back = seen.state("connected", 3000); // not 30 s: `online` skips the wait
      win.dispatchEvent(new Event("online"));
      await back;
      const again = seen.state("disconnected");
      win.dispatchEvent(new Event("offline"));
      await again;
      const visible = seen.state("connected", 3000);
      doc.dispatchEvent(new Event("visibilitychange"));
      await visible;
      client.close();
      win.dispatchEvent(new Event("online")); // unhooked by close(): nothing happens
      await sleep(100);
      assert.equal(client.state, "closed");
    } finally {
      delete globalThis.addEventListener;
      delete globalThis.removeEventListener;
      delete globalThis.document;
    }
  });

  // Last in this group: it restarts the shared gateway.
  test("reconnects after the gateway restarts on the same port; memory log: resync", async () => {
    const { client, seen, userId } = open(gateway, { topics: ["news"] });
    client.connect();
    await seen.state("connected");
    const first = seen.notification("before.restart");
    await gateway.publish({ users: [userId], type: "before.restart" });
    await first;
    const dropped = seen.state("disconnected");
    await gateway.call({ cmd: "stop" });
    assert.equal((await dropped).args[0].code, 1001);
    await sleep(600); // attempts fail while nothing listens
    const resync = seen.next("resync");
    const connected = seen.state("connected");
    await gateway.call({ cmd: "resume" });
    await connected;
    // A fresh in-memory log cannot know the old cursor: the app is told to refetch.
    assert.equal((await resync).args[0].replayed, 0);
    const states = seen.named("state").map(([c]) => c.state);
    assert.ok(states.filter((s) => s === "disconnected").length >= 2, states.join());
    const live = seen.notification("after.restart");
    await gateway.publish({ topic: "news", type: "after.restart" });
    await live;
    // The head of the new log is now the resume point: a second drop resumes completely.
    const again = seen.state("connected");
    await gateway.call({ cmd: "disconnect", user_id: userId, code: 4008 });
    await again;
    await sleep(100);
    assert.equal(seen.named("resync").length, 1);
    client.close();
  });
});
