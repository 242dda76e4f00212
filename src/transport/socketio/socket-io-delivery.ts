import type { DefaultEventsMap, Server, Socket } from 'socket.io';
import { Encoder, PacketType } from 'socket.io-parser';
import { Sender } from 'ws';
import { DISCONNECT_REASONS, type DisconnectCode } from '../../domain/disconnect.js';
import type { SocketId, TenantId, UserId } from '../../domain/ids.js';
import type { Envelope } from '../../domain/protocol/envelope.js';
import type { EnvelopeFactory } from '../../core/routing/envelopes.js';
import type { EmitOptions, LocalDelivery, MembershipChange, OffsetGroup } from '../../ports/local-delivery.js';
import type { Logger } from '../../ports/logger.js';
import type { SocketData } from './socket-data.js';

/** Server-to-server event that applies a topic membership change on every server. */
const MEMBERSHIP_EVENT = 'switchboard:membership';

/** Socket.IO's own packet encoder, as its broadcasts use it. */
const encoder = new Encoder();

/** The Socket.IO text packet of an event, or null when the arguments hold binary data (sent as attachments). */
function encodeEventText(event: string, data: object): string | null {
  const [text, ...attachments] = encoder.encode({ type: PacketType.EVENT, nsp: '/', data: [event, data] });
  return attachments.length === 0 && typeof text === 'string' ? text : null;
}

declare module 'ws' {
  /** ws's frame writer; exported by the package, left out of its type definitions. */
  export class Sender {
    static frame(data: Buffer, options: { readOnly: boolean; mask: boolean; rsv1: boolean; opcode: number; fin: boolean }): Buffer[];
  }
}

/** The text message `prefix` + `tail` (ASCII) framed as a server sends it (unmasked), as `Sender.sendFrame` takes it. */
function frameText(prefix: Buffer, tail: string): Buffer[] {
  const payload = Buffer.allocUnsafe(prefix.length + tail.length);
  prefix.copy(payload);
  payload.write(tail, prefix.length, 'latin1');
  return Sender.frame(payload, { readOnly: false, mask: false, rsv1: false, opcode: 1, fin: true });
}

/** LocalDelivery over Socket.IO: one `emit` per call, so the envelope is encoded once however many sockets receive it. */
export class SocketIoDelivery implements LocalDelivery {
  constructor(
    private readonly io: Server<DefaultEventsMap, DefaultEventsMap, DefaultEventsMap, SocketData>,
    private readonly envelopes: EnvelopeFactory,
    /** Resolves once the cluster adapter's pending topic subscriptions are in place. */
    private readonly topicsReady: () => Promise<void>,
    /** The sockets this server holds for these users. */
    private readonly localSocketsOf: (tenantId: TenantId, userIds: readonly UserId[]) => SocketId[],
    /** What this server keeps about a conversation that changed, e.g. its membership cache. */
    private readonly onChanged: (change: MembershipChange) => void,
    private readonly logger: Logger,
    /** Whether other servers share the topics (a cluster over Redis). */
    private readonly clustered: boolean,
  ) {}

  emit(socketIds: readonly SocketId[], envelope: Envelope, options?: EmitOptions): void {
    let op = this.io.local.to([...socketIds]);
    if (options?.volatile) op = op.volatile;
    op.emit(envelope.payload.action, envelope);
  }

  /**
   * Encodes `[action, envelope]` once with Socket.IO's encoder (an EVENT packet of the main
   * namespace: `2` and JSON), and adds each group's offset to the encoded text: a member of
   * a group of 1000 costs a string concatenation, not a JSON.stringify of the whole envelope. Envelopes with binary data take Socket.IO's own
   * encoding (attachments travel as separate frames), once per group.
   */
  emitEach(groups: readonly OffsetGroup[], envelope: Envelope): void {
    const { offset: _offset, ...base } = envelope;
    const encoded = encodeEventText(base.payload.action, base);
    if (encoded === null) {
      for (const g of groups) this.emit(g.socketIds, { ...base, offset: g.offset });
      return;
    }
    // The text ends with the envelope's closing brace and the array's bracket: the offset goes in between.
    const head = `${encoded.slice(0, -2)},"offset":`;
    // "4" is Engine.IO's message packet type; the bytes up to the offset are the same for every member.
    const prefix = Buffer.from(`4${head}`);
    // With compression on, Engine.IO compresses what it sends and ignores pre-encoded frames.
    const preEncode = !this.io.engine.opts.perMessageDeflate;
    const sockets = this.io.of('/').sockets;
    for (const g of groups) {
      const tail = `${g.offset}}]`;
      const packet = `${head}${tail}`;
      // Engine.IO's WebSocket transport sends this frame as it is (as for Socket.IO's own
      // broadcasts); other transports send `packet`.
      const options = preEncode ? ({ wsPreEncodedFrame: frameText(prefix, tail) } as Parameters<Socket['conn']['write']>[1]) : undefined;
      for (const id of g.socketIds) {
        const conn = sockets.get(id)?.conn;
        if (conn?.readyState === 'open') conn.write(packet, options);
      }
    }
  }

  emitToTopic(topic: string, envelope: Envelope, options?: EmitOptions): void {
    let op = this.io.to(topic);
    if (options?.exceptSocket) op = op.except(options.exceptSocket);
    if (options?.volatile) op = op.volatile;
    op.emit(envelope.payload.action, envelope);
  }

  topicHasListeners(topic: string): boolean {
    return this.clustered || this.io.of('/').adapter.rooms.has(topic);
  }

  /** Applies topic joins and leaves that other servers ask for, and answers once they hold. */
  acceptRemoteMembership(): void {
    this.io.on(MEMBERSHIP_EVENT, (change: MembershipChange, ack: (done: boolean) => void) => {
      this.applyLocally(change).then(() => ack(true), () => ack(false));
    });
  }

  async membershipChanged(change: MembershipChange): Promise<void> {
    await this.applyLocally(change);
    try {
      if ((await this.io.of('/').adapter.serverCount()) <= 1) return;
      await this.io.serverSideEmitWithAck(MEMBERSHIP_EVENT, change);
    } catch (err) {
      // A server that does not answer is dying, or Redis is away (then every server forgets
      // what it cached once Redis is back); sockets that reconnect elsewhere join there.
      this.logger.warn({ err, conversationId: change.conversationId }, 'not every server confirmed a conversation change');
    }
  }

  private async applyLocally(change: MembershipChange): Promise<void> {
    this.onChanged(change);
    const { tenantId, topic, joined, left } = change;
    if (topic === undefined) return;
    const entering = this.localSocketsOf(tenantId, joined);
    const leaving = this.localSocketsOf(tenantId, left);
    if (entering.length > 0) this.io.local.in(entering).socketsJoin(topic);
    if (leaving.length > 0) this.io.local.in(leaving).socketsLeave(topic);
    await this.topicsReady();
  }

  async join(socketId: SocketId, topics: readonly string[]): Promise<void> {
    const socket = this.io.sockets.sockets.get(socketId);
    if (!socket || topics.length === 0) return;
    await socket.join(topics as string[]);
    await this.topicsReady();
  }

  leave(socketId: SocketId, topics: readonly string[]): void {
    const socket = this.io.sockets.sockets.get(socketId);
    if (socket) for (const t of topics) void socket.leave(t);
  }

  disconnect(socketIds: readonly SocketId[], code: DisconnectCode): void {
    for (const id of socketIds) {
      const socket = this.io.sockets.sockets.get(id);
      if (!socket) continue;
      const reason = DISCONNECT_REASONS[code];
      const env = this.envelopes.create(socket.data.session.tenantId, 'event', 'session:disconnect', {
        code,
        message: reason.message,
        reconnect: reason.reconnect,
      });
      socket.emit('session:disconnect', env);
      socket.disconnect(true);
    }
  }
}
