type Handler<A extends unknown[]> = (...args: A) => void;

/**
 * A minimal typed event emitter that runs in browsers and Node alike. A throwing handler
 * does not stop the others nor the SDK: its error goes to `onHandlerError`.
 */
export class TypedEmitter<M extends { [K in keyof M]: unknown[] }> {
  // Handlers of different events have different signatures; each is only called with its own event's arguments.
  private readonly handlers = new Map<keyof M, Set<unknown>>();

  constructor(private readonly onHandlerError: (err: unknown) => void) {}

  /** Adds a handler; returns a function that removes it. */
  on<K extends keyof M>(event: K, handler: Handler<M[K]>): () => void {
    let set = this.handlers.get(event);
    if (!set) this.handlers.set(event, (set = new Set()));
    set.add(handler);
    return () => this.off(event, handler);
  }

  /** Adds a handler that runs at most once. */
  once<K extends keyof M>(event: K, handler: Handler<M[K]>): () => void {
    const off = this.on(event, (...args: M[K]) => {
      off();
      handler(...args);
    });
    return off;
  }

  off<K extends keyof M>(event: K, handler: Handler<M[K]>): void {
    this.handlers.get(event)?.delete(handler);
  }

  emit<K extends keyof M>(event: K, ...args: M[K]): void {
    const set = this.handlers.get(event);
    if (!set) return;
    for (const handler of [...set]) {
      try {
        (handler as Handler<M[K]>)(...args);
      } catch (err) {
        this.onHandlerError(err);
      }
    }
  }

  listenerCount(event: keyof M): number {
    return this.handlers.get(event)?.size ?? 0;
  }

  removeAll(): void {
    this.handlers.clear();
  }
}
