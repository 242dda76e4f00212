/** A value the SDK stores: plain JSON. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * Where the SDK keeps what must survive a restart: the inbox offset, the newest seq per
 * conversation, and the outbox. Values are small JSON documents under a few keys.
 * Implementations may be synchronous or asynchronous; the SDK serialises its writes, so a
 * `set` is never overtaken by an older one. A failing `set` is reported as an `error`
 * event and retried with the next change.
 */
export interface ClientStorage {
  get(key: string): JsonValue | undefined | Promise<JsonValue | undefined>;
  set(key: string, value: JsonValue): void | Promise<void>;
}

/** Keeps values in memory: nothing survives the process (the default). */
export class MemoryStorage implements ClientStorage {
  private readonly values = new Map<string, string>();

  get(key: string): JsonValue | undefined {
    const raw = this.values.get(key);
    // Stored as text so a caller mutating a returned object cannot change what is stored.
    return raw === undefined ? undefined : (JSON.parse(raw) as JsonValue);
  }

  set(key: string, value: JsonValue): void {
    this.values.set(key, JSON.stringify(value));
  }
}

/** The part of the Web Storage API (`localStorage`, `sessionStorage`) the adapter uses. */
export interface WebStorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

/**
 * Adapts `localStorage` (or any Web Storage) to {@link ClientStorage}.
 *
 * @example
 * createClient({ url, token, storage: webStorage(window.localStorage) });
 */
export function webStorage(store: WebStorageLike): ClientStorage {
  return {
    get(key) {
      const raw = store.getItem(key);
      if (raw === null) return undefined;
      try {
        return JSON.parse(raw) as JsonValue;
      } catch {
        // A value another script wrote under our key: treat it as absent rather than fail startup.
        return undefined;
      }
    },
    set(key, value) {
      store.setItem(key, JSON.stringify(value));
    },
  };
}

/** Serialises writes to a storage and reports failures instead of throwing them. */
export class StorageWriter {
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly storage: ClientStorage,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Queues a write after every earlier one. */
  write(key: string, value: JsonValue): Promise<void> {
    this.chain = this.chain
      .then(() => this.storage.set(key, value))
      .catch((err: unknown) => this.onError(err));
    return this.chain;
  }

  /** Resolves once every queued write has finished. */
  flush(): Promise<void> {
    return this.chain;
  }
}
