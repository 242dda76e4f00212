import { fork, type ChildProcess } from 'node:child_process';
import { Histogram } from './histogram.js';
import type { ClientSpec, Command, OpenArgs, OpenResult, PrepareArgs, ReceiveStats, ReconnectArgs, ReconnectStats, SendResult } from './generator.js';
import type { Dialect } from './wire.js';

/*
 * The orchestrator's side of the load generators: several processes (bench/generator.ts),
 * each holding part of the clients on its own share of source addresses in 127.0.0.0/8.
 */

/** Loopback source addresses, shared out between the generator processes. */
export const SOURCE_ADDRESSES = Array.from({ length: 249 }, (_, i) => `127.0.0.${i + 2}`);

/** A process can hold about 19 000 sockets at this machine's limit; stay well under it. */
export const MAX_CLIENTS_PER_PROCESS = 18_000;

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

class Generator {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  private constructor(readonly child: ChildProcess) {
    child.on('message', (m: { id: number; ok: boolean; result?: unknown; error?: string }) => {
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (m.ok) w.resolve(m.result);
      else w.reject(new Error(m.error));
    });
    child.once('exit', (code, signal) => {
      live.delete(child);
      for (const w of this.waiting.values()) w.reject(new Error(`generator exited (${code ?? signal})`));
      this.waiting.clear();
    });
  }

  static start(): Promise<Generator> {
    const child = fork(new URL('./generator.ts', import.meta.url).pathname, [], {
      execArgv: ['--import', 'tsx', '--max-old-space-size=2048'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
    });
    live.add(child);
    const g = new Generator(child);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('generator did not start within 30 s')), 30_000);
      child.once('message', () => {
        clearTimeout(timer);
        resolve(g);
      });
      child.once('exit', (code) => reject(new Error(`generator exited with ${code}`)));
    });
  }

  request<T>(command: Command): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ id, command });
    });
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return resolve();
      this.child.once('exit', () => resolve());
      this.child.kill('SIGKILL');
    });
  }
}

export interface Placement {
  gen: number;
  local: number;
}

export interface PoolPrepare {
  dialect: Dialect;
  urls: string[];
  clients: ClientSpec[];
  /** Index into `urls` per client; default round-robin. */
  urlIndex?: number[];
  secret: string;
  tenant?: string;
  connectTimeoutMs?: number;
}

/** Several generator processes and the clients spread over them. */
export class GeneratorPool {
  private placement: Placement[] = [];

  private constructor(readonly gens: Generator[]) {}

  static async start(processes: number): Promise<GeneratorPool> {
    return new GeneratorPool(await Promise.all(Array.from({ length: processes }, () => Generator.start())));
  }

  get size(): number {
    return this.gens.length;
  }

  /** Where the client with this global index lives. */
  at(index: number): Placement {
    const p = this.placement[index];
    if (!p) throw new Error(`no client ${index}`);
    return p;
  }

  /** Spreads the clients over the processes in contiguous slices, each with its own source addresses. */
  async prepare(o: PoolPrepare): Promise<void> {
    const n = this.gens.length;
    const per = Math.ceil(o.clients.length / n);
    if (per > MAX_CLIENTS_PER_PROCESS) throw new Error(`${per} clients per generator process is over ${MAX_CLIENTS_PER_PROCESS}; use more processes`);
    this.placement = o.clients.map((_, i) => ({ gen: Math.floor(i / per), local: i % per }));
    await Promise.all(this.gens.map((g, gi) => {
      const from = gi * per;
      const args: PrepareArgs = {
        dialect: o.dialect,
        urls: o.urls,
        clients: o.clients.slice(from, from + per),
        urlIndex: (o.urlIndex ?? o.clients.map((_, i) => i % o.urls.length)).slice(from, from + per),
        localAddresses: SOURCE_ADDRESSES.filter((_, k) => k % n === gi),
        secret: o.secret,
        tenant: o.tenant ?? 'bench',
        tokenTtlSeconds: 6 * 3600,
        connectTimeoutMs: o.connectTimeoutMs ?? 30_000,
      };
      return g.request({ cmd: 'prepare', args });
    }));
  }

  /** Connects every prepared client; the rate is measured from the first start to the last finish. */
  async open(a: OpenArgs): Promise<{ opened: number; failed: number; errors: Record<string, number>; seconds: number; perSecond: number; connectMs: Histogram }> {
    const results = await Promise.all(this.gens.map((g) => g.request<OpenResult>({ cmd: 'open', args: a })));
    const opened = sum(results.map((r) => r.opened));
    const startedAt = Math.min(...results.map((r) => r.startedAt));
    const endedAt = Math.max(...results.map((r) => r.endedAt));
    const seconds = (endedAt - startedAt) / 1000;
    const errors: Record<string, number> = {};
    for (const r of results) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
    return { opened, failed: sum(results.map((r) => r.failed)), errors, seconds, perSecond: opened / Math.max(seconds, 1e-6), connectMs: Histogram.mergeAll(results.map((r) => r.connectMs)) };
  }

  /** One acknowledged event from one client. */
  call(index: number, event: string, payload: unknown, timeoutMs = 30_000): Promise<unknown> {
    const { gen, local } = this.at(index);
    return this.gens[gen]!.request({ cmd: 'call', args: { from: local, event, payload, timeoutMs } });
  }

  async received(reset: boolean): Promise<{ delivered: number; latencyMs: Histogram; firstAt: number; lastAt: number; events: Record<string, number>; connected: number }> {
    const all = await Promise.all(this.gens.map((g) => g.request<ReceiveStats>({ cmd: 'received', args: { reset } })));
    const events: Record<string, number> = {};
    for (const r of all) for (const [k, v] of Object.entries(r.events)) events[k] = (events[k] ?? 0) + v;
    const firsts = all.map((r) => r.firstAt).filter((t) => t > 0);
    return {
      delivered: sum(all.map((r) => r.delivered)),
      latencyMs: Histogram.mergeAll(all.map((r) => r.latencyMs)),
      firstAt: firsts.length ? Math.min(...firsts) : 0,
      lastAt: Math.max(0, ...all.map((r) => r.lastAt)),
      events,
      connected: sum(all.map((r) => r.connected)),
    };
  }

  /** Polls until `expected` deliveries arrived or `timeoutMs` passed (every 100 ms, so bounded). */
  async awaitDelivered(expected: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if ((await this.received(false)).delivered >= expected) return;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Sends per process, grouped from global sender indices. */
  bySender<T extends { from: number }>(sends: T[]): T[][] {
    const out: T[][] = this.gens.map(() => []);
    for (const s of sends) {
      const { gen, local } = this.at(s.from);
      out[gen]!.push({ ...s, from: local });
    }
    return out;
  }

  async send(kind: 'flood' | 'paced', perGen: (gen: number) => Command['args'] | null): Promise<SendResult & { ackMs: Histogram }> {
    const results = await Promise.all(this.gens.map((g, gi) => {
      const args = perGen(gi);
      return args ? g.request<SendResult>({ cmd: kind, args } as Command) : null;
    }));
    const done = results.filter((r): r is SendResult => r !== null);
    const errors: Record<string, number> = {};
    for (const r of done) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
    return {
      sent: sum(done.map((r) => r.sent)),
      acked: sum(done.map((r) => r.acked)),
      failed: sum(done.map((r) => r.failed)),
      skipped: sum(done.map((r) => r.skipped)),
      errors,
      ackMs: Histogram.mergeAll(done.map((r) => r.ackMs)),
      startedAt: Math.min(...done.map((r) => r.startedAt)),
      endedAt: Math.max(...done.map((r) => r.endedAt)),
    };
  }

  async armReconnect(a: ReconnectArgs): Promise<void> {
    await Promise.all(this.gens.map((g) => g.request({ cmd: 'reconnect', args: a })));
  }

  async reconnectStats(): Promise<{ dropped: number; restored: number; failedAttempts: number; errors: Record<string, number>; restoreMs: Histogram; firstDropAt: number; lastRestoredAt: number }> {
    const all = (await Promise.all(this.gens.map((g) => g.request<ReconnectStats | null>({ cmd: 'reconnectStats', args: {} })))).filter((r): r is ReconnectStats => r !== null);
    const drops = all.map((r) => r.firstDropAt).filter((t) => t > 0);
    const errors: Record<string, number> = {};
    for (const r of all) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
    return {
      errors,
      dropped: sum(all.map((r) => r.dropped)),
      restored: sum(all.map((r) => r.restored)),
      failedAttempts: sum(all.map((r) => r.failedAttempts)),
      restoreMs: Histogram.mergeAll(all.map((r) => r.restoreMs)),
      firstDropAt: drops.length ? Math.min(...drops) : 0,
      lastRestoredAt: Math.max(0, ...all.map((r) => r.lastRestoredAt)),
    };
  }

  /** Closes every client (the processes stay). */
  async closeClients(): Promise<void> {
    await Promise.all(this.gens.map((g) => g.request({ cmd: 'close', args: {} })));
  }

  async stop(): Promise<void> {
    await Promise.all(this.gens.map((g) => g.stop()));
  }
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
