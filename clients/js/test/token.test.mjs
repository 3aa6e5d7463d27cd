// Tokens against a real gateway with JWT on: getToken on every (re)connect, the token in the
// subprotocol list (never in the URL), the refresh op before expiry, a bad refresh, and a
// fresh token after 4001.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { NotificationClient } from "../dist/index.js";
import { ControlledGateway, Recorder, sleep } from "./harness.mjs";

describe("with JWT on", () => {
  let gateway;
  let users = 0;
  before(async () => {
    gateway = await ControlledGateway.start({ jwt_secret: "test-secret-of-32-bytes-or-more!!" });
  });
  after(async () => {
    await gateway.close();
  });

  function open(ttl, options = {}) {
    const userId = `tok${++users}`;
    const issued = [];
    const client = new NotificationClient(gateway.url, {
      userId,
      minReconnectDelay: 50,
      maxReconnectDelay: 200,
      getToken: async () => {
        const { token } = await gateway.call({ cmd: "token", sub: userId, ttl });
        issued.push(token);
        return token;
      },
      ...options,
    });
    return { client, seen: new Recorder(client), issued, userId };
  }

  test("a subscribe the token does not allow: an error naming it, and it is not followed", async () => {
    const { client, seen, userId } = open(60);
    client["getToken"] = async () =>
      (await gateway.call({ cmd: "token", sub: userId, ttl: 60, topics: ["news"] })).token;
    client.subscribe("news");
    client.connect();
    await seen.state("connected");
    const refused = seen.next("error");
    client.subscribe("sport");
    const error = (await refused).args[0];
    assert.equal(error.code, "forbidden_topic");
    assert.equal(error.topic, "sport");
    assert.deepEqual(client.topics, ["news"]);
    // A reconnect asks only for what is allowed, so the gateway admits it.
    const back = seen.state("connected");
    await gateway.call({ cmd: "disconnect", user_id: userId, code: 4008 });
    await back;
    client.close();
  });

  test("a refreshed token that drops a topic: the client stops following it", async () => {
    const { client, seen, userId } = open(60, { refreshBefore: 59_000, topics: ["news", "sport"] });
    let calls = 0;
    client["getToken"] = async () => {
      calls += 1;
      const topics = calls === 1 ? ["news", "sport"] : ["news"];
      return (await gateway.call({ cmd: "token", sub: userId, ttl: 60, topics })).token;
    };
    client.connect();
    await seen.state("connected");
    const dropped = await seen.next("unsubscribed", () => true, 4000);
    assert.equal(dropped.args[0], "sport");
    assert.deepEqual(client.topics, ["news"]);
    client.close();
  });

  test("4001: a fresh token from getToken, then an immediate resume (token in the query)", async () => {
    const { client, seen, issued, userId } = open(1.5, { tokenIn: "query" });
    client.connect();
    await seen.state("connected");
    const expired = await seen.state("disconnected", 4000);
    assert.equal(expired.args[0].code, 4001);
    assert.equal(expired.args[0].delay, 0);
    await seen.state("connected");
    assert.equal(issued.length, 2);
    assert.notEqual(issued[0], issued[1]);
    assert.deepEqual(seen.named("resync"), []);
    const got = seen.notification("after.expiry");
    await gateway.publish({ users: [userId], type: "after.expiry" });
    await got;
    client.close();
  });

  test("subprotocol: the token travels as bearer.<jwt>, never in the URL", async () => {
    const { client, seen, userId } = open(60);
    client.connect();
    await seen.state("connected");
    const ws = client["channel"].socket;
    assert.equal(ws.protocol, "notifications.v1");
    assert.doesNotMatch(ws.url, /token=/);
    const got = seen.notification("with.subprotocol");
    await gateway.publish({ users: [userId], type: "with.subprotocol" });
    await got;
    client.close();
  });

  test("refresh: the token is renewed on the open connection before it expires", async () => {
    const { client, seen, issued } = open(2.5, { refreshBefore: 1500 });
    client.connect();
    await seen.state("connected");
    await sleep(4500); // well past the first token's expiry
    assert.equal(client.state, "connected", seen.summary());
    assert.ok(issued.length >= 3, `getToken called ${issued.length} times`);
    assert.equal(seen.named("state").filter(([c]) => c.state === "disconnected").length, 0);
    client.close();
  });

  test("a token valid for 40 days is refreshed once, not in a loop", async () => {
    // Before: its refresh delay overflowed setTimeout (over 24.8 days), which fired at once,
    // and every `refreshed` answer armed the next refresh at once again.
    const { client, seen, userId } = open(2.5, { refreshBefore: 1500 });
    let calls = 0;
    const warnings = [];
    const warned = (warning) => warnings.push(warning.name);
    process.on("warning", warned);
    client["getToken"] = async () => {
      calls += 1;
      const ttl = calls === 1 ? 2.5 : 40 * 24 * 3600;
      return (await gateway.call({ cmd: "token", sub: userId, ttl })).token;
    };
    client.connect();
    await seen.state("connected");
    await sleep(2500); // the first refresh is due after 1 s
    process.off("warning", warned);
    assert.equal(calls, 2, seen.summary());
    assert.deepEqual(warnings.filter((name) => name === "TimeoutOverflowWarning"), []);
    assert.equal(client.state, "connected");
    client.close();
  });

  test("refresh with a bad token: an error event, the connection keeps its expiry", async () => {
    const { client, seen, userId } = open(60, { refreshBefore: 58_500 });
    let calls = 0;
    client["getToken"] = async () => {
      calls += 1;
      if (calls > 1) return "not-a-jwt";
      return (await gateway.call({ cmd: "token", sub: userId, ttl: 60 })).token;
    };
    client.connect();
    await seen.state("connected");
    const error = (await seen.next("error", () => true, 4000)).args[0];
    assert.equal(error.code, "bad_token");
    assert.equal(client.state, "connected");
    client.close();
  });
});
