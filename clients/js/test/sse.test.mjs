// The client over Server-Sent Events (`transport: "sse"`) and `auto` falling back to SSE
// behind a proxy that strips `Upgrade`, against a real gateway (tests/support/js_control.py).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { NotificationClient, sseUrl } from "../dist/index.js";
import { ControlledGateway, Recorder, sleep } from "./harness.mjs";

let users = 0;
const fast = { minReconnectDelay: 50, maxReconnectDelay: 200 };

function open(url, options) {
  const client = new NotificationClient(url, { userId: `sse${++users}`, ...fast, ...options });
  return { client, seen: new Recorder(client), userId: client.userId };
}

test("the SSE URL of a client URL", () => {
  assert.equal(sseUrl("ws://h:8080/ws"), "http://h:8080/sse");
  assert.equal(sseUrl("wss://h/ws?x=1"), "https://h/sse?x=1");
  assert.equal(sseUrl("https://h/gateway/ws"), "https://h/gateway/sse");
  assert.equal(sseUrl("http://h/"), "http://h/sse");
});

describe("over SSE", () => {
  let gateway;
  before(async () => {
    gateway = await ControlledGateway.start();
  });
  after(async () => {
    await gateway.close();
  });

  test("delivers to the user, a topic and everyone; follows a topic added after connect", async () => {
    const { client, seen, userId } = open(gateway.url, { transport: "sse", topics: ["news"] });
    const connected = seen.state("connected");
    client.connect();
    await connected;
    assert.equal(client.transport, "sse");
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
    }
    const subscribed = seen.next("subscribed", (t) => t === "later");
    client.subscribe("later");
    await subscribed;
    const later = seen.notification("on.later");
    await gateway.publish({ topic: "later", type: "on.later" });
    await later;
    client.unsubscribe("later");
    await seen.next("unsubscribed", (t) => t === "later");
    client.close();
    assert.equal(client.state, "closed");
  });

  test("4008 resumes what was missed; 4009 stops", async () => {
    const { client, seen, userId } = open(gateway.url, {
      transport: "sse",
      minReconnectDelay: 400,
      maxReconnectDelay: 500,
    });
    client.connect();
    await seen.state("connected");
    const dropped = seen.state("disconnected");
    await gateway.call({ cmd: "disconnect", user_id: userId, code: 4008 });
    assert.equal((await dropped).args[0].code, 4008);
    const missed = (await gateway.publish({ users: [userId], type: "while.away" })).cursor;
    await seen.state("connected");
    await seen.seenOrNext("notification", (n, at) => at === missed);
    assert.deepEqual(seen.named("resync"), []);
    const closed = seen.state("closed");
    await gateway.call({ cmd: "disconnect", user_id: userId, code: 4009 });
    assert.equal((await closed).args[0].code, 4009);
    await sleep(300);
    assert.equal(client.state, "closed");
  });

  test("the ping watchdog's pings are posted and answered on the stream", async () => {
    const { client, seen } = open(gateway.url, {
      transport: "sse",
      pingInterval: 100,
      pongTimeout: 1000,
    });
    client.connect();
    await seen.state("connected");
    await sleep(700); // several pings: each answered in time, or the watchdog would drop it
    assert.equal(client.state, "connected");
    assert.deepEqual(
      seen.named("state").map(([c]) => c.state),
      ["connecting", "connected"],
    );
    client.close();
  });
});

describe("auto, behind a proxy that strips Upgrade", () => {
  let gateway;
  let proxied;
  before(async () => {
    gateway = await ControlledGateway.start();
    proxied = (await gateway.call({ cmd: "strip_upgrade" })).url;
  });
  after(async () => {
    await gateway.close();
  });

  test("falls back to SSE after two failed upgrades and keeps every rule", async () => {
    const { client, seen, userId } = open(proxied, { transport: "auto", topics: ["news"] });
    client.connect();
    await seen.state("connected", 10_000);
    assert.equal(client.transport, "sse");
    const failed = seen.named("state").filter(([c]) => c.state === "disconnected");
    assert.equal(failed.length, 2); // two WebSocket attempts, then SSE
    const got = seen.notification("via.proxy");
    const { cursor } = await gateway.publish({ users: [userId], type: "via.proxy" });
    assert.equal((await got).args[1], cursor);
    client.close();
  });

  test("auto uses WebSocket where upgrades pass", async () => {
    const { client, seen } = open(gateway.url, { transport: "auto" });
    client.connect();
    await seen.state("connected");
    assert.equal(client.transport, "websocket");
    client.close();
  });

  test("auto tries WebSocket again retryWebSocket ms after the fallback", async () => {
    const retryWebSocket = 1500;
    const { client, seen, userId } = open(proxied, { transport: "auto", retryWebSocket });
    const drop = async () => {
      const reconnected = seen.state("connected", 10_000);
      await gateway.call({ cmd: "disconnect", user_id: userId, code: 4008 });
      await reconnected;
      return seen.named("state").filter(([c]) => c.state === "disconnected").length;
    };
    try {
      client.connect();
      await seen.state("connected", 10_000);
      assert.equal(client.transport, "sse");
      const fellBack = Date.now();
      // Within retryWebSocket a reconnect stays on SSE: one drop, no failed upgrade.
      assert.equal(await drop(), 3);
      assert.equal(client.transport, "sse");
      assert.ok(Date.now() - fellBack < retryWebSocket, "the test was too slow to tell");
      // Later, WebSocket is tried once; still stripped, it fails and SSE is back at once.
      await sleep(retryWebSocket);
      assert.equal(await drop(), 5); // the drop, then the one failed upgrade
      assert.equal(client.transport, "sse");
      // Once the network passes upgrades, the next try after retryWebSocket stays on it.
      await gateway.call({ cmd: "strip_upgrade", on: false });
      await sleep(retryWebSocket);
      assert.equal(await drop(), 6);
      assert.equal(client.transport, "websocket");
      const got = seen.notification("back.on.ws");
      const { cursor } = await gateway.publish({ users: [userId], type: "back.on.ws" });
      assert.equal((await got).args[1], cursor);
      assert.deepEqual(seen.named("resync"), []);
    } finally {
      client.close();
      await gateway.call({ cmd: "strip_upgrade", on: true });
    }
  });
});
