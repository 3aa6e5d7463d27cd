// Type-level tests, checked by `tsc -p test/tsconfig.json` (npm run typecheck): the
// notification union narrows on `type`, and wrong fields or events fail to compile.
import { NotificationClient } from "../src/index.js";
import type { ConnectionState, TypedNotification } from "../src/index.js";

type AppTypes = {
  "order.shipped": { order: number; carrier: string };
  "chat.message": { from: string; text: string };
};

const client = new NotificationClient<AppTypes>("ws://127.0.0.1:8080/ws", {
  userId: "alice",
  topics: ["news"],
  getToken: async () => "token",
});

function use(value: number | string): void {
  void value;
}

client.on("notification", (n, cursor) => {
  use(cursor);
  if (n.type === "order.shipped") {
    use(n.data.order);
    use(n.data.carrier);
    // @ts-expect-error: `text` belongs to chat.message, not order.shipped
    use(n.data.text);
  } else {
    use(n.data.text);
    // @ts-expect-error: narrowed to chat.message, which has no `order`
    use(n.data.order);
  }
  // @ts-expect-error: not narrowed yet: `order` is not on every member of the union
  use(n.data.order);
  // @ts-expect-error: a type the app did not declare can never match
  if (n.type === "order.cancelled") use(1);
});

client.on("state", (change) => {
  const state: ConnectionState = change.state;
  // @ts-expect-error: not one of the four states
  if (state === "open") use(1);
});

client.on("resync", (info) => use(info.since + info.replayed));

// @ts-expect-error: not an event the client emits
client.on("message", () => undefined);

// @ts-expect-error: userId is required
new NotificationClient("ws://x/ws", { topics: [] });

// Without a Types map every notification has `data: Record<string, unknown>`.
const plain = new NotificationClient("ws://x/ws", { userId: "bob" });
plain.on("notification", (n) => {
  const value: unknown = n.data["anything"];
  void value;
  // @ts-expect-error: data values are unknown until checked
  use(n.data["anything"]);
});

const exhaustive = (n: TypedNotification<AppTypes>): string => {
  switch (n.type) {
    case "order.shipped":
      return n.data.carrier;
    case "chat.message":
      return n.data.from;
  }
};
void exhaustive;
