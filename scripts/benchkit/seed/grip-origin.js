// The origin behind Pushpin in scripts/bench: WebSocket-over-HTTP (GRIP). Pushpin holds
// the client's socket and POSTs its events here; on OPEN this answers with the `grip`
// extension, a subscription of the connection to the channel named by its user_id, and a
// welcome event. Publishing goes to Pushpin's own HTTP endpoint, never through here.
// Usage: node grip-origin.js PORT
"use strict";
const http = require("http");

const port = Number(process.argv[2]);

function text(message) {
  const bytes = Buffer.byteLength(message);
  return `TEXT ${bytes.toString(16)}\r\n${message}\r\n`;
}

http
  .createServer((req, res) => {
    if (req.method === "GET") {
      res.end("ok\n");
      return;
    }
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      const events = Buffer.concat(chunks).toString("utf8");
      const userId = new URL(req.url, "http://origin").searchParams.get("user_id") || "";
      res.setHeader("Content-Type", "application/websocket-events");
      if (events.startsWith("OPEN\r\n")) {
        res.setHeader("Sec-WebSocket-Extensions", "grip");
        const subscribe = JSON.stringify({ type: "subscribe", channel: userId });
        const all = JSON.stringify({ type: "subscribe", channel: "all" });
        const welcome = JSON.stringify({ event: "welcome", user_id: userId });
        res.end("OPEN\r\n" + text("c:" + subscribe) + text("c:" + all) + text("m:" + welcome));
        return;
      }
      res.end(events.includes("CLOSE") ? "CLOSE\r\n" : "");
    });
  })
  .listen(port, "127.0.0.1", 4096);
