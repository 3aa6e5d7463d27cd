// The seed's design as a Node server: what a team writes by hand instead of the gateway.
// A Map of users to their sockets (`ws`, the most used Node WebSocket library), a set of
// every socket, and an HTTP endpoint fed in batches: POST /publish with a JSON array of
// {"u": "<user>"} or {"e": 1} items, each with its notification "n"; every item becomes
// one `notification` event text sent to each addressed socket with ws.send (one write
// each). No validation, no history, no idempotency: a floor for the per-user path.
// Usage: node seed.js PORT
"use strict";
const http = require("http");
const { WebSocketServer } = require("ws");

const port = Number(process.argv[2]);
const users = new Map();
const everyone = new Set();

function publish(items) {
  let delivered = 0;
  for (const item of items) {
    const text = JSON.stringify({ event: "notification", notification: item.n });
    const conns = item.u !== undefined ? users.get(item.u) : everyone;
    if (conns === undefined) continue;
    for (const ws of conns) {
      ws.send(text);
      delivered++;
    }
  }
  return delivered;
}

const server = http.createServer((req, res) => {
  if (req.url === "/healthz") {
    res.end("ok\n");
    return;
  }
  if (req.method !== "POST" || req.url !== "/publish") {
    res.statusCode = 404;
    res.end();
    return;
  }
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    let delivered;
    try {
      delivered = publish(JSON.parse(Buffer.concat(chunks).toString("utf8")));
    } catch (err) {
      res.statusCode = 400;
      res.end(String(err));
      return;
    }
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ delivered }));
  });
});

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
server.on("upgrade", (req, socket, head) => {
  const url = new URL(req.url, "http://seed");
  const userId = url.searchParams.get("user_id");
  if (url.pathname !== "/ws" || !userId) {
    socket.destroy();
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    let conns = users.get(userId);
    if (conns === undefined) users.set(userId, (conns = new Set()));
    conns.add(ws);
    everyone.add(ws);
    ws.on("close", () => {
      conns.delete(ws);
      if (conns.size === 0 && users.get(userId) === conns) users.delete(userId);
      everyone.delete(ws);
    });
    ws.on("error", () => {});
    ws.send(JSON.stringify({ event: "welcome", user_id: userId }));
  });
});

server.listen(port, "127.0.0.1");
