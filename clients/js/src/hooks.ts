/** Browser hooks: `online`/`offline` on the window and `visibilitychange` on the document. */

export interface HookHandlers {
  /** The network is back, or the page became visible. */
  wake: () => void;
  offline: () => void;
}

/** Listens where the runtime has a window and a document (Node has neither: nothing). */
export function hookBrowser(handlers: HookHandlers): () => void {
  const target = globalThis as unknown as Partial<EventTarget>;
  const doc = globalThis.document as Document | undefined;
  const visible = (): void => {
    if (doc?.visibilityState === "visible") handlers.wake();
  };
  const toggle = (method: "addEventListener" | "removeEventListener"): void => {
    if (typeof target[method] === "function") {
      target[method]("online", handlers.wake);
      target[method]("offline", handlers.offline);
    }
    if (doc !== undefined && typeof doc[method] === "function") {
      doc[method]("visibilitychange", visible);
    }
  };
  toggle("addEventListener");
  return () => toggle("removeEventListener");
}
