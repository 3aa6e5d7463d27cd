/** A small typed event emitter; a handler that throws cannot break the one emitting. */

type Handler = (...args: never[]) => void;

export class Emitter<Events extends { [E in keyof Events]: Handler }> {
  private readonly handlers = new Map<keyof Events, Set<Handler>>();

  /** Adds a handler; returns a function that removes it. */
  on<E extends keyof Events>(event: E, handler: Events[E]): () => void {
    let set = this.handlers.get(event);
    if (set === undefined) this.handlers.set(event, (set = new Set()));
    set.add(handler);
    return () => this.off(event, handler);
  }

  off<E extends keyof Events>(event: E, handler: Events[E]): void {
    this.handlers.get(event)?.delete(handler);
  }

  emit<E extends keyof Events>(event: E, ...args: Parameters<Events[E]>): void {
    for (const handler of this.handlers.get(event) ?? []) {
      try {
        (handler as (...a: Parameters<Events[E]>) => void)(...args);
      } catch (error) {
        // The app's error still surfaces (uncaught, on its own), the connection goes on.
        setTimeout(() => {
          throw error;
        });
      }
    }
  }
}
