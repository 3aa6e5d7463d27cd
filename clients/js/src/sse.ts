/**
 * The SSE channel: `GET /sse` read with `fetch` as an event stream, ops posted to
 * `POST /sse/ops` for the stream the welcome named.
 *
 * `fetch` rather than `EventSource`: it can send the token as `Authorization: Bearer` (no
 * token in a URL or a cookie), and it never reconnects on its own, so the client's one
 * policy (backoff, resume from its cursor, the close-code table) decides as on WebSocket.
 * Each event's `data:` is the JSON a WebSocket frame would carry; the final `close` event
 * becomes the channel's close code. Ops are posted one request at a time (those queued
 * meanwhile go together in the next), so they apply in the order they were sent.
 */

import type { ClientOp } from "./protocol.js";
import type { Attempt, Channel, ChannelHandlers } from "./socket.js";
import { connectQuery, withQuery } from "./socket.js";

export type FetchFunction = typeof globalThis.fetch;

/** The SSE URL for a client URL: `ws(s)://h/ws` → `http(s)://h/sse` (others: same path). */
export function sseUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.protocol === "ws:") parsed.protocol = "http:";
  if (parsed.protocol === "wss:") parsed.protocol = "https:";
  parsed.pathname = parsed.pathname.replace(/\/ws$/, "/sse");
  if (!parsed.pathname.endsWith("/sse")) parsed.pathname = parsed.pathname.replace(/\/?$/, "/sse");
  return parsed.toString();
}

export function dialSse(
  fetchImpl: FetchFunction,
  base: string,
  attempt: Attempt,
  current: () => boolean,
  on: ChannelHandlers,
): Channel {
  const streamUrl = sseUrl(base);
  const opsUrl = streamUrl.replace(/\?.*$/, "").replace(/\/sse$/, "/sse/ops");
  const abort = new AbortController();
  let stream: string | undefined;
  let ended = false;
  let queued: ClientOp[] = [];
  let posting = false;

  const end = (code: number, reason: string): void => {
    if (ended) return;
    ended = true;
    abort.abort();
    if (current()) on.closed(code, reason);
  };

  const post = (): void => {
    if (posting || queued.length === 0 || stream === undefined || ended) return;
    const ops = queued.slice(0, 64);
    queued = queued.slice(ops.length);
    posting = true;
    fetchImpl(opsUrl, {
      method: "POST",
      // text/plain keeps a cross-site post a simple request (no preflight)
      headers: { "Content-Type": "text/plain" },
      body: JSON.stringify({ stream, ops }),
    })
      .then((reply) => reply.body?.cancel())
      .catch(() => undefined) // the stream's own end says what happened to the line
      .finally(() => {
        posting = false;
        post();
      });
  };

  const headers: Record<string, string> = { Accept: "text/event-stream" };
  if (attempt.token !== undefined && attempt.tokenIn === "protocol") {
    headers["Authorization"] = "Bearer " + attempt.token;
  }
  const read = async (): Promise<void> => {
    const reply = await fetchImpl(withQuery(streamUrl, connectQuery(attempt)), {
      headers,
      cache: "no-store",
      signal: abort.signal,
    });
    if (reply.status !== 200 || reply.body === null) {
      await reply.body?.cancel();
      end(1006, `HTTP ${reply.status}`); // refused before any stream, as a failed upgrade
      return;
    }
    const reader = reply.body.pipeThrough(new TextDecoderStream()).getReader();
    const parser = new EventParser((name, data) => {
      if (name === "close") {
        const close = JSON.parse(data) as { code: number; reason: string };
        end(close.code, close.reason);
        return;
      }
      if (name === "welcome") {
        stream = (JSON.parse(data) as { stream?: string }).stream;
        post();
      }
      if (current() && !ended) on.text(data);
    });
    for (;;) {
      const { value, done } = await reader.read();
      if (done || ended) break;
      parser.feed(value);
    }
    end(1006, "stream ended");
  };
  read().catch(() => end(1006, "connection failed"));

  return {
    kind: "sse",
    refreshes: true,
    send(op) {
      if (stream === undefined || ended) return false;
      queued.push(op);
      post();
      return true;
    },
    close() {
      ended = true; // silenced: nothing more reaches the client
      abort.abort();
    },
  };
}

/** The event-stream format (WHATWG HTML §9.2.6), enough of it: `event:`, `data:`, comments. */
class EventParser {
  private buffer = "";
  private name = "";
  private data: string[] = [];

  constructor(private readonly dispatch: (name: string, data: string) => void) {}

  feed(chunk: string): void {
    this.buffer += chunk;
    let newline: number;
    while ((newline = this.buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.buffer.slice(0, newline);
      const width = this.buffer.startsWith("\r\n", newline) ? 2 : 1;
      this.buffer = this.buffer.slice(newline + width);
      this.line(line);
    }
  }

  private line(line: string): void {
    if (line === "") {
      if (this.data.length > 0) this.dispatch(this.name || "message", this.data.join("\n"));
      this.name = "";
      this.data = [];
      return;
    }
    if (line.startsWith(":")) return; // a keep-alive comment
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.name = value;
    else if (field === "data") this.data.push(value);
  }
}
