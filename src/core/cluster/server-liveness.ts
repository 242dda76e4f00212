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
 * While the directory is out of reach no server can heartbeat, so when it is back every
 * other server's heartbeat may look stale: this server reaps none until they have had a
 * TTL to heartbeat again. Otherwise an outage longer than the TTL would have the servers
 * reap each other, and every user would go offline at once.
 */
export class ServerLiveness {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly reaped: ((report: ReapReport) => void)[] = [];
  private readonly relisted: (() => void)[] = [];
  /** The last heartbeat failed: the directory is out of reach. */
  private unreachable = false;
  /** No server is reaped before this time (set when the directory is back after an outage). */
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
    const now = this.clock.now();
    let listed: boolean;
    try {
      listed = await this.directory.heartbeat(this.serverId, now);
    } catch (err) {
      this.unreachable = true;
      this.logger.warn({ err }, 'liveness round failed: the server directory is out of reach');
      return;
    }
    if (this.unreachable) {
      this.unreachable = false;
      this.reapFrom = now + this.options.serverTtlMs;
      this.logger.info({ reapFrom: new Date(this.reapFrom).toISOString() }, 'the server directory is back; other servers have a TTL to heartbeat before any is reaped');
    }
    if (!listed) {
      this.logger.warn({ serverId: this.serverId }, 'this server was missing from the server directory (taken for dead, or the directory lost its data); registering its sessions again');
      for (const l of this.relisted) l();
    }
    if (now < this.reapFrom) return;
    try {
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
