// Receipts: the client acks by itself (coalesced) and markRead(id) marks a notification
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

test("notifications handed to the app are acked by themselves: delivered at the gateway", async () => {
  const { client, seen, acked, userId } = open({ ackInterval: 100 });
  client.connect();
  await seen.state("connected");
  const sent = [];
  for (let i = 0; i < 3; i++) {
    sent.push(await gateway.publish({ users: [userId], type: "order.shipped", receipt_deadline: 30 }));
  }
  await until(() => acked.includes(sent[2].cursor), "one ack covering the burst");
  assert.deepEqual(acked, [sent[2].cursor]); // cumulative and coalesced: one ack for three
  for (const { id } of sent) {
    await until(async () => (await receipt(id)).users[userId] === "delivered", `${id} delivered`);
  }
  client.close();
});

test("an ack goes out after `ackEvery` notifications without waiting for the interval", async () => {
  const { client, seen, acked, userId } = open({ ackInterval: 60_000, ackEvery: 2 });
  client.connect();
  await seen.state("connected");
  const first = await gateway.publish({ users: [userId], type: "a.b" });
  const second = await gateway.publish({ users: [userId], type: "a.b" });
  await until(() => acked.length === 1, "an ack after two");
  assert.deepEqual(acked, [second.cursor]);
  assert.notEqual(first.cursor, second.cursor);
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
  const sent = await gateway.publish({ users: [userId], type: "a.b" });
  await seen.seenOrNext("notification", (n) => n.type === "a.b");
  await gateway.call({ cmd: "disconnect", user_id: userId, code: 4008 }); // reconnects
  await seen.state("connected");
  // The replay of what was owed comes after "connected": wait until the client owes it again
  // (not handed to the app a second time, so no event shows it; `acks` is the client's own).
  await until(() => client.acks.owed === sent.cursor, "the replayed notification owed again");
  client.close(); // a clean close sends what is owed, on the new connection
  await until(async () => (await receipt(sent.id)).users[userId] === "delivered", "delivered");
  assert.equal(acked.at(-1), sent.cursor);
  assert.equal(seen.named("notification").length, 1); // the replay was not handed over again
});
