import type { SocketId } from '../../domain/ids.js';
import type { Principal } from '../../domain/model.js';
import type { Envelope } from '../../domain/protocol/envelope.js';
import type { Inbox, InboxEntry, Offset } from '../../ports/inbox.js';
import type { LocalDelivery, OffsetGroup } from '../../ports/local-delivery.js';
import type { Logger } from '../../ports/logger.js';
import type { DeliveryCounters } from './delivery-counters.js';

export interface DeviceStreamOptions {
  /** How long an emitted entry may stay unacknowledged before it is sent again (default 2000 ms). */
  ackTimeoutMs: number;
  /** Resends of unacknowledged entries before they wait for the next reconnect (default 5). */
  maxRetries: number;
  /** Entries read from the inbox per replay step (default 200). */
  readBatch: number;
}

/** What a connection learns once its inbox gap has been replayed (`inbox:synced`). */
export interface SyncResult {
  head: Offset;
  replayed: number;
  lost: boolean;
}

interface Stream {
  principal: Principal;
  socketId: SocketId;
  /** Highest offset the device acknowledged on this connection (or the one it came back with). */
  acked: Offset;
  /** Highest offset emitted to the socket. */
  sent: Offset;
  /** Until the replay is done, live entries are left to it; this is the highest one left so far. */
  replaying: boolean;
  heldBack: Offset;
  /** Live entries up to here were already sent by the replay. */
  replayedUpTo: Offset;
  attempts: number;
  timer: NodeJS.Timeout | null;
  closed: boolean;
  /** The device came back with an offset its inbox never reached (the inbox was lost). */
  reset: boolean;
}

/**
 * Acknowledged delivery to the connections that asked for it (`auth.inbox`): replay of the
 * inbox gap before live traffic, cumulative acks, and resends of what stays unacknowledged
 * with exponential backoff and jitter. Entries are re-read from the inbox when resent, so a
 * slow device costs no memory here. Other connections get inbox entries live, untracked.
 */
export class DeviceStreams {
  private readonly streams = new Map<SocketId, Stream>();

  constructor(
    private readonly inbox: Inbox,
    private readonly delivery: LocalDelivery,
    private readonly counters: DeliveryCounters,
    private readonly logger: Logger,
    private readonly options: DeviceStreamOptions,
  ) {}

  /**
   * Starts tracking a connection before it is registered for live delivery, so live entries
   * that arrive before its replay is done wait for the replay. Without `after` the device
   * starts from the inbox's current head.
   */
  async track(principal: Principal, socketId: SocketId, after: Offset | undefined): Promise<void> {
    const { head } = await this.inbox.read(principal.tenantId, principal.userId, Number.MAX_SAFE_INTEGER, 0);
    // An offset beyond the head comes from an inbox that no longer exists: start over at its head.
    const reset = after !== undefined && after > head;
    const from = after === undefined || reset ? head : after;
    this.streams.set(socketId, { principal, socketId, acked: from, sent: from, replaying: true, heldBack: 0, replayedUpTo: from, attempts: 0, timer: null, closed: false, reset });
  }

  /** Replays the entries after the device's offset in order, then lets live entries through. */
  async replay(socketId: SocketId): Promise<SyncResult | null> {
    const s = this.streams.get(socketId);
    if (!s) return null;
    const { tenantId, userId } = s.principal;
    let replayed = 0;
    let lost = s.reset;
    let head = s.sent;
    for (;;) {
      const heldBefore = s.heldBack;
      const page = await this.inbox.read(tenantId, userId, s.sent, this.options.readBatch);
      if (s.closed) return null;
      head = Math.max(head, page.head);
      lost ||= page.lost;
      replayed += this.send(s, page.entries);
      if (page.entries.length > 0) continue;
      if (s.heldBack <= s.sent) break;
      // This read started after the entry was held back and still lacks it: retention took it.
      if (heldBefore === s.heldBack) {
        s.sent = s.heldBack;
        break;
      }
    }
    s.replaying = false;
    s.replayedUpTo = s.sent;
    this.counters.replayed += replayed;
    this.arm(s);
    return { head: Math.max(head, s.sent), replayed, lost };
  }

  /**
   * Emits an inbox entry that arrives live. `exceptSocket` (the socket that caused it) is
   * left out unless it is tracked: a tracked device needs every offset to acknowledge past it.
   */
  emit(socketIds: readonly SocketId[], envelope: Envelope, exceptSocket?: SocketId): void {
    const plain = this.untrackedOrDue(socketIds, envelope.offset ?? 0, exceptSocket);
    if (plain.length > 0) this.delivery.emit(plain, envelope);
  }

  /** `emit` for one entry of many users at once (`envelope` without offset; each group has its own). */
  emitEach(groups: readonly OffsetGroup[], envelope: Envelope, exceptSocket?: SocketId): void {
    const due: OffsetGroup[] = [];
    for (const g of groups) {
      const socketIds = this.untrackedOrDue(g.socketIds, g.offset, exceptSocket);
      if (socketIds.length > 0) due.push(socketIds === g.socketIds ? g : { socketIds, offset: g.offset });
    }
    if (due.length > 0) this.delivery.emitEach(due, envelope);
  }

  /** The sockets the entry at `offset` goes to now; tracked ones are marked as sent. Returns `socketIds` itself when all of them. */
  private untrackedOrDue(socketIds: readonly SocketId[], offset: Offset, exceptSocket: SocketId | undefined): readonly SocketId[] {
    let plain: SocketId[] | null = null;
    for (let i = 0; i < socketIds.length; i++) {
      const id = socketIds[i]!;
      const s = this.streams.get(id);
      let send = false;
      if (!s) {
        send = id !== exceptSocket;
      } else if (s.replaying) {
        s.heldBack = Math.max(s.heldBack, offset);
      } else if (offset > s.replayedUpTo) {
        send = true;
        s.sent = Math.max(s.sent, offset);
        this.arm(s);
      }
      if (!send && plain === null) plain = socketIds.slice(0, i);
      else if (send && plain !== null) plain.push(id);
    }
    return plain ?? socketIds;
  }

  /**
   * Sends each tracked device what its inbox holds beyond what was sent to it: entries whose
   * live emit never came (while the registry had lost this server's sockets). Entries up to
   * what was sent are the resend timers' job. Returns how many entries went out.
   */
  async catchUp(): Promise<number> {
    let total = 0;
    for (const s of [...this.streams.values()]) {
      if (s.replaying) continue;
      const { tenantId, userId } = s.principal;
      for (;;) {
        const page = await this.inbox.read(tenantId, userId, s.sent, this.options.readBatch);
        const fresh = page.entries.filter((e) => e.offset > s.sent);
        if (s.closed || fresh.length === 0) break;
        total += this.send(s, fresh);
      }
      this.arm(s);
    }
    this.counters.replayed += total;
    return total;
  }

  /** The device holds every entry up to `offset`. Returns the offset in effect. */
  async ack(socketId: SocketId, offset: Offset): Promise<Offset> {
    const s = this.streams.get(socketId);
    if (!s) return 0;
    const upTo = Math.min(offset, s.sent);
    if (upTo <= s.acked) return s.acked;
    s.acked = upTo;
    s.attempts = 0;
    this.counters.acks++;
    this.disarm(s);
    this.arm(s);
    const { tenantId, userId, deviceId } = s.principal;
    await this.inbox.ack(tenantId, userId, deviceId, upTo);
    return upTo;
  }

  untrack(socketId: SocketId): void {
    const s = this.streams.get(socketId);
    if (!s) return;
    s.closed = true;
    this.disarm(s);
    this.streams.delete(socketId);
  }

  /** Stops every resend timer (shutdown). */
  close(): void {
    for (const id of [...this.streams.keys()]) this.untrack(id);
  }

  private send(s: Stream, entries: readonly InboxEntry[]): number {
    let n = 0;
    for (const e of entries) {
      s.sent = Math.max(s.sent, e.offset);
      this.delivery.emit([s.socketId], { ...e.envelope, offset: e.offset });
      n++;
    }
    return n;
  }

  /** Schedules a resend while something emitted is unacknowledged and retries are left. */
  private arm(s: Stream): void {
    if (s.timer || s.closed || s.replaying || s.sent <= s.acked || s.attempts >= this.options.maxRetries) return;
    const base = this.options.ackTimeoutMs * 2 ** s.attempts;
    // Equal jitter: at least half the backoff, so a resend never comes before the device had time to ack.
    const delay = base / 2 + Math.random() * (base / 2);
    s.timer = setTimeout(() => {
      s.timer = null;
      this.resend(s).catch((err: unknown) => this.logger.warn({ err, socketId: s.socketId }, 'resend from the inbox failed'));
    }, delay);
    s.timer.unref();
  }

  private disarm(s: Stream): void {
    if (s.timer) clearTimeout(s.timer);
    s.timer = null;
  }

  private async resend(s: Stream): Promise<void> {
    if (s.closed || s.sent <= s.acked) return;
    s.attempts++;
    const { tenantId, userId } = s.principal;
    const upTo = s.sent;
    let from = s.acked;
    while (from < upTo && !s.closed) {
      const page = await this.inbox.read(tenantId, userId, from, Math.min(this.options.readBatch, upTo - from));
      const entries = page.entries.filter((e) => e.offset <= upTo);
      if (entries.length === 0) break;
      this.counters.retries += this.send(s, entries);
      from = entries[entries.length - 1]!.offset;
    }
    this.arm(s);
  }
}
