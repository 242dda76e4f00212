import { createClient, MemoryStorage, type ClientEvents, type ClientOptions, type Message, type SwitchboardClient } from '../../packages/client/src/index.js';
import { token, type TestServer } from '../helpers/harness.js';

export interface SdkOptions extends Partial<ClientOptions> {
  device?: string;
  /** Resolve once `inbox:synced` arrived too (default true). */
  synced?: boolean;
  /** Called before connecting, to attach listeners that must see the replay. */
  listen?: (client: SwitchboardClient) => void;
}

const clients = new Set<SwitchboardClient>();

/** Fast delays so reconnects and resends happen within a test's time. */
export const FAST = { baseMs: 20, maxMs: 200 };

/** Creates an SDK client for `user` and resolves once it is connected (and synced). */
export async function sdk(server: Pick<TestServer, 'url'>, user: string, o: SdkOptions = {}): Promise<SwitchboardClient> {
  const { device, synced = true, listen, ...options } = o;
  const client = createClient({
    url: server.url,
    token: () => token(user, 'acme', { device }),
    transports: ['websocket'],
    reconnectBackoff: FAST,
    sendBackoff: FAST,
    storage: new MemoryStorage(),
    autoConnect: false,
    ...options,
  });
  clients.add(client);
  listen?.(client);
  const ready = synced ? nextEvent(client, 'synced') : Promise.resolve();
  await client.connect(5000);
  await ready;
  return client;
}

/** Closes every client the tests created. */
export async function closeSdkClients(): Promise<void> {
  await Promise.all([...clients].map((c) => c.close()));
  clients.clear();
}

/** Resolves with the arguments of the next `event` that matches, failing after `timeoutMs`. */
export function nextEvent<K extends keyof ClientEvents>(
  client: SwitchboardClient, event: K, match: (...args: ClientEvents[K]) => boolean = () => true, timeoutMs = 5000,
): Promise<ClientEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out waiting for ${String(event)}`));
    }, timeoutMs);
    const off = client.on(event, (...args: ClientEvents[K]) => {
      if (!match(...args)) return;
      clearTimeout(timer);
      off();
      resolve(args);
    });
  });
}

/** Every `message` the app of a client gets, with a way to wait for a count. */
export interface Received {
  messages: Message[];
  /** Contents of one conversation, in delivery order. */
  contents(conversationId: string): string[];
  /** Resolves once `count` messages of the conversation arrived. */
  until(conversationId: string, count: number, timeoutMs?: number): Promise<Message[]>;
}

export function received(client: SwitchboardClient): Received {
  const messages: Message[] = [];
  const waiters = new Set<() => void>();
  client.on('message', (m) => {
    messages.push(m);
    for (const w of [...waiters]) w();
  });
  const of = (conversationId: string) => messages.filter((m) => m.conversationId === conversationId);
  return {
    messages,
    contents: (conversationId) => of(conversationId).map((m) => m.content),
    until(conversationId, count, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (of(conversationId).length < count) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(of(conversationId));
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${count} messages in ${conversationId}; got ${JSON.stringify(of(conversationId).map((m) => m.content))}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
  };
}

/** A promise with its resolve function, to hold something (a token, a reconnect) until the test lets go. */
export function gate<T = void>(): { promise: Promise<T>; open: (value: T) => void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (open = resolve));
  return { promise, open };
}

/** A client whose reconnects wait while `hold` is set: the test decides how long it stays offline. */
export async function holdable(server: Pick<TestServer, 'url'>, user: string, o: Parameters<typeof sdk>[2] = {}) {
  let hold: ReturnType<typeof gate<void>> | null = null;
  let app!: Received;
  const client = await sdk(server, user, {
    ...o,
    token: async () => {
      await hold?.promise;
      return token(user);
    },
    listen: (c) => (app = received(c)),
  });
  return {
    client,
    app,
    /** Cuts the connection and keeps the client offline until `back()`. */
    async offline(): Promise<void> {
      hold = gate();
      const down = nextEvent(client, 'disconnected');
      client.socket.io.engine.close();
      await down;
    },
    /** Lets the client reconnect; resolves with its `inbox:synced`. */
    async back() {
      const synced = nextEvent(client, 'synced');
      hold!.open();
      hold = null;
      return (await synced)[0];
    },
  };
}
