// Receipts: the client acks by itself (at once, then at most one per ackInterval) and markRead(id) marks a notification
// read, against a real gateway with receipts on (tests/support/js_control.py).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { NotificationClient } from "../dist/index.js";
import { ControlledGateway, Recorder, sleep } from "./harness.mjs";

let gateway;
let users = 0;

before(async () => {
  gateway = await ControlledGateway.start({ receipts: true });
});
after(async () => {
  await gateway.close();
});

function open(options = {}) {
  const client = new NotificationClient(gateway.url, {
    userId: `reader${++users}`,
    minReconnectDelay: 50,
    maxReconnectDelay: 200,
    ...options,
  });
  const seen = new Recorder(client);
  const acked = [];
  client.on("acked", (cursor) => acked.push(cursor));
  return { client, seen, acked, userId: client.userId };
}

async function receipt(id) {
  const { receipts } = await gateway.call({ cmd: "receipts", ids: [id] });
  return receipts[0];
}

async function until(check, what, timeout = 5000) {
  const end = Date.now() + timeout;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

function openTimed(options) {
  const opened = open(options);
  // performance.now() of each notification handed over and of each ack (after the app's
  // handlers: the recorder's and this one)
  const handed = [];
  const at = [];
  opened.client.on("notification", () => handed.push(performance.now()));
  opened.client.on("acked", () => at.push(performance.now()));
  return { ...opened, handed, at };
}

test("a notification after a quiet interval is acked at once; a burst gets one trailing ack", async () => {
  const { client, seen, acked, handed, at, userId } = openTimed({ ackInterval: 1000 });
  client.connect();
  await seen.state("connected");
  const first = await gateway.publish({ users: [userId], type: "order.shipped", receipt_deadline: 30 });
  await until(() => acked.length === 1, "the first ack");
  assert.equal(acked[0], first.cursor);
  assert.ok(at[0] - handed[0] < 50, `acked ${at[0] - handed[0]} ms after it was handed over`);
  // a burst within the interval: nothing until 1000 ms after the last ack, then one for all
  const burst = [];
  for (let i = 0; i < 3; i++) {
    burst.push(await gateway.publish({ users: [userId], type: "a.b", receipt_deadline: 30 }));
  }
  await seen.seenOrNext("notification", (n, cursor) => cursor === burst[2].cursor);
  assert.equal(acked.length, 1);
  await until(() => acked.length === 2, "the trailing ack");
  assert.deepEqual(acked, [first.cursor, burst[2].cursor]); // cumulative: one for three
  assert.ok(at[1] - at[0] >= 990 && at[1] - at[0] < 1300, `${at[1] - at[0]} ms between acks`);
  await sleep(300);
  assert.equal(acked.length, 2);
  for (const { id } of [first, ...burst]) {
    await until(async () => (await receipt(id)).users[userId] === "delivered", `${id} delivered`);
  }
  // quiet for the interval since the trailing ack: the next one is acked at once again
  await sleep(1000);
  const later = await gateway.publish({ users: [userId], type: "c.d" });
  await until(() => acked.length === 3, "the ack after a quiet interval");
  assert.equal(acked[2], later.cursor);
  assert.ok(at[2] - handed[4] < 50, `acked ${at[2] - handed[4]} ms after it was handed over`);
  client.close();
});

test("an ack goes out once `ackEvery` are owed without waiting for the interval", async () => {
  const { client, seen, acked, userId } = open({ ackInterval: 60_000, ackEvery: 2 });
  client.connect();
  await seen.state("connected");
  const first = await gateway.publish({ users: [userId], type: "a.b" });
  await until(() => acked.length === 1, "the leading ack");
  const second = await gateway.publish({ users: [userId], type: "a.b" });
  const third = await gateway.publish({ users: [userId], type: "a.b" });
  await until(() => acked.length === 2, "an ack after two more");
  assert.deepEqual(acked, [first.cursor, third.cursor]);
  assert.notEqual(second.cursor, third.cursor);
  client.close();
});

test("markRead(id) marks it read; acks: false sends none", async () => {
  const { client, seen, acked, userId } = open({ acks: false });
  client.connect();
  await seen.state("connected");
  const sent = await gateway.publish({ users: [userId], type: "order.shipped" });
  await seen.seenOrNext("notification", (n) => n.type === "order.shipped");
  await sleep(400);
  assert.equal(acked.length, 0);
  assert.equal((await receipt(sent.id)).users[userId], "pending");
  client.markRead(sent.id);
  await until(async () => (await receipt(sent.id)).users[userId] === "read", "read");
  client.close();
});

test("what was owed when the socket dropped is acked on the next connection", async () => {
  const { client, seen, acked, userId } = open({ ackInterval: 60_000, ackEvery: 1000 });
  client.connect();
  await seen.state("connected");
  const first = await gateway.publish({ users: [userId], type: "a.b" });
  await until(() => acked.length === 1, "the leading ack");
  const sent = await gateway.publish({ users: [userId], type: "a.b" });
  await seen.seenOrNext("notification", (n, cursor) => cursor === sent.cursor);
  assert.equal(client.acks.owed, sent.cursor); // within the interval: owed, not sent
  await gateway.call({ cmd: "disconnect", user_id: userId, code: 4008 }); // reconnects
  await seen.state("connected");
  // The new connection resumes after the last ack: the replay of what was owed is acked on
  // it, at once (it has sent no ack yet), and not handed to the app a second time.
  await until(() => acked.length === 2, "the replayed notification acked");
  assert.deepEqual(acked, [first.cursor, sent.cursor]);
  await until(async () => (await receipt(sent.id)).users[userId] === "delivered", "delivered");
  assert.equal(seen.named("notification").length, 2);
  client.close();
});
