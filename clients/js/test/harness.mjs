// Test harness: a real gateway in a Python process (tests/support/js_control.py) driven over
// stdin/stdout, and helpers that wait for client events. No mocks: the client under test
// talks to the gateway over a real WebSocket.
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { afterEach } from "node:test";
import { fileURLToPath } from "node:url";

import { NotificationClient } from "../dist/index.js";

const here = dirname(fileURLToPath(import.meta.url));
const root = process.env.GATEWAY_ROOT ?? join(here, "..", "..", "..");
const python = process.env.GATEWAY_PYTHON ?? join(root, ".venv", "bin", "python");

export class ControlledGateway {
  static async start(settings = {}) {
    const gateway = new ControlledGateway();
    await gateway.begin(settings);
    return gateway;
  }

  /**
   * Two replicas (two control processes) on one private redis-server, which the first one
   * runs: close the second one first.
   */
  static async pairOnRedis(settings = {}) {
    const a = new ControlledGateway();
    const { url } = await a.call({ cmd: "redis" });
    await a.begin({ ...settings, backend: url });
    const b = await ControlledGateway.start({ ...settings, backend: url });
    return [a, b];
  }

  async begin(settings) {
    const ports = await this.call({ cmd: "start", settings });
    this.url = `ws://127.0.0.1:${ports.http_port}/ws`;
  }

  constructor() {
    this.proc = spawn(python, ["-m", "tests.support.js_control"], {
      cwd: root,
      stdio: ["pipe", "pipe", "inherit"],
    });
    this.waiting = [];
    createInterface({ input: this.proc.stdout }).on("line", (line) => {
      const next = this.waiting.shift();
      const reply = JSON.parse(line);
      if (reply.ok) next.resolve(reply);
      else next.reject(new Error(reply.error));
    });
    this.proc.on("exit", (code) => {
      for (const w of this.waiting.splice(0)) w.reject(new Error(`control exited ${code}`));
    });
  }

  call(cmd) {
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.proc.stdin.write(JSON.stringify(cmd) + "\n");
    });
  }

  publish(fields) {
    return this.call({ cmd: "publish", type: "test.event", ...fields });
  }

  async close() {
    this.proc.stdin.end();
    await new Promise((resolve) => this.proc.once("exit", resolve));
  }
}

/**
 * The clients recorded during the running test, closed after it whether it passed or not:
 * a test that fails before its `close()` would otherwise leave a client reconnecting, and
 * its timers keep node from exiting (pytest then sees a 300 s timeout, not the failure).
 */
const live = new Set();
afterEach(() => {
  for (const client of live) client.close();
  live.clear();
});

/** Records every event a client emits, and waits for the next one that matches. */
export class Recorder {
  constructor(client) {
    live.add(client);
    this.events = [];
    this.waiters = [];
    for (const name of ["notification", "state", "resync", "error", "subscribed", "unsubscribed"]) {
      client.on(name, (...args) => this.push({ name, args }));
    }
  }

  push(event) {
    this.events.push(event);
    for (const waiter of [...this.waiters]) {
      if (waiter.match(event)) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        clearTimeout(waiter.timer);
        waiter.resolve(event);
      }
    }
  }

  /** The next event (from now on) named `name` for which `test(...args)` holds. */
  next(name, test = () => true, timeout = 5000) {
    return new Promise((resolve, reject) => {
      const waiter = {
        match: (e) => e.name === name && test(...e.args),
        resolve,
        timer: setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          reject(new Error(`no ${name} event within ${timeout} ms; saw ${this.summary()}`));
        }, timeout),
      };
      this.waiters.push(waiter);
    });
  }

  /** Like next(), but an event recorded already counts too. */
  seenOrNext(name, test = () => true, timeout = 5000) {
    const past = this.events.find((e) => e.name === name && test(...e.args));
    return past !== undefined ? Promise.resolve(past) : this.next(name, test, timeout);
  }

  state(state, timeout) {
    return this.next("state", (c) => c.state === state, timeout);
  }

  notification(type, timeout) {
    return this.next("notification", (n) => n.type === type, timeout);
  }

  named(name) {
    return this.events.filter((e) => e.name === name).map((e) => e.args);
  }

  summary() {
    return JSON.stringify(
      this.events.map((e) => (e.name === "state" ? `state:${e.args[0].state}` : e.name)),
    );
  }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Reconnect delays short enough for a test. */
export const fast = { minReconnectDelay: 50, maxReconnectDelay: 200 };
let users = 0;

/** A client of `gateway` for a user of its own (`fast` unless `options` say otherwise). */
export function openClient(gateway, options) {
  const client = new NotificationClient(gateway.url, {
    userId: `user${++users}`,
    ...fast,
    ...options,
  });
  const seen = new Recorder(client);
  return { client, seen, userId: client.userId };
}
