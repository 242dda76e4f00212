import type { ServerId } from '../../domain/ids.js';
import type { ConnectionRegistry } from '../../ports/connection-registry.js';
import type { Logger } from '../../ports/logger.js';
import type { ServerDirectory } from '../../ports/server-directory.js';
import type { Clock } from '../../ports/system.js';
import type { PresenceService } from '../presence/presence-service.js';

export interface ServerLivenessOptions {
  /** How often this server heartbeats and looks for dead servers. */
  heartbeatMs: number;
  /** A server whose last heartbeat is older than this is taken for dead (the directory's TTL). */
  serverTtlMs: number;
}

export interface ReapReport {
  serverId: ServerId;
  connections: number;
}

/**
 * Keeps this server marked alive, and reaps servers that stopped heartbeating (a crash or
 * `kill -9`): their sockets leave the registry and their users' sessions end, so those
 * users go offline unless another device keeps them online. Never throws: a failed round
 * is logged and the next one tries again.
 *
 * A server that went about a TTL without heartbeating (the directory was out of reach or
 * stalled, or this process was) reaps none until the others have had a TTL to heartbeat
 * again: they may have been unable to heartbeat too, and their heartbeats look stale.
 * Otherwise a Redis outage longer than the TTL would have the servers reap each other, and
 * every user would go offline at once. A server that just started waits a TTL as well.
 */
export class ServerLiveness {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly reaped: ((report: ReapReport) => void)[] = [];
  private readonly relisted: (() => void)[] = [];
  /** When the directory last took this server's heartbeat. */
  private lastBeatAt = 0;
  /** No server is reaped before this time. */
  private reapFrom = 0;

  constructor(
    private readonly serverId: ServerId,
    private readonly directory: ServerDirectory,
    private readonly registry: ConnectionRegistry,
    private readonly presence: Pick<PresenceService, 'reap'>,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly options: ServerLivenessOptions,
  ) {}

  onReaped(listener: (report: ReapReport) => void): void {
    this.reaped.push(listener);
  }

  /**
   * Called when this server finds itself missing from the directory while running: another
   * server took it for dead (it stalled longer than the TTL) and removed its connections, or
   * the directory lost its data. Its sessions must be registered again.
   */
  onRelisted(listener: () => void): void {
    this.relisted.push(listener);
  }

  async start(): Promise<void> {
    await this.directory.heartbeat(this.serverId, this.clock.now());
    this.lastBeatAt = this.clock.now();
    // It may be starting just as the directory comes back from an outage.
    this.reapFrom = this.lastBeatAt + this.options.serverTtlMs;
    this.timer = setInterval(() => {
      this.running ??= this.round().finally(() => (this.running = undefined));
    }, this.options.heartbeatMs);
    this.timer.unref();
  }

  /** Stops heartbeating and leaves the directory (a graceful exit is not a death). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
    await this.directory.remove(this.serverId).catch((err: unknown) => this.logger.warn({ err }, 'could not leave the server directory'));
  }

  /** One heartbeat and reaping pass; exposed so callers can drive it deterministically. */
  async round(): Promise<void> {
    try {
      const listed = await this.directory.heartbeat(this.serverId, this.clock.now());
      const now = this.clock.now();
      const { serverTtlMs, heartbeatMs } = this.options;
      if (this.lastBeatAt > 0 && now - this.lastBeatAt > serverTtlMs - heartbeatMs) {
        this.reapFrom = now + serverTtlMs;
        this.logger.info({ withoutHeartbeatMs: now - this.lastBeatAt, reapFrom: new Date(this.reapFrom).toISOString() }, 'this server could not heartbeat for about a TTL; the others have a TTL to heartbeat before any is reaped');
      }
      this.lastBeatAt = now;
      if (!listed) {
        this.logger.warn({ serverId: this.serverId }, 'this server was missing from the server directory (taken for dead, or the directory lost its data); registering its sessions again');
        for (const l of this.relisted) l();
      }
      if (now < this.reapFrom) return;
      for (const dead of await this.directory.deadServers(now)) {
        if (dead === this.serverId || !(await this.directory.claim(dead, this.serverId))) continue;
        await this.reap(dead);
      }
    } catch (err) {
      this.logger.warn({ err }, 'liveness round failed');
    }
  }

  private async reap(dead: ServerId): Promise<void> {
    const connections = await this.registry.connectionsOnServer(dead);
    for (const c of connections) {
      await this.registry.unregister(c);
      await this.presence.reap(c, c.socketId);
    }
    await this.directory.remove(dead);
    this.logger.warn({ deadServer: dead, connections: connections.length }, 'reaped a server that stopped heartbeating');
    for (const l of this.reaped) l({ serverId: dead, connections: connections.length });
  }
}
