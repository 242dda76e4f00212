import type { DefaultEventsMap, Server } from 'socket.io';
import { DISCONNECT_REASONS, type DisconnectCode } from '../../domain/disconnect.js';
import type { SocketId } from '../../domain/ids.js';
import type { Envelope } from '../../domain/protocol/envelope.js';
import type { EnvelopeFactory } from '../../core/routing/envelopes.js';
import type { EmitOptions, LocalDelivery } from '../../ports/local-delivery.js';
import type { SocketData } from './socket-data.js';

/** LocalDelivery over Socket.IO: one `emit` per call, so the envelope is encoded once however many sockets receive it. */
export class SocketIoDelivery implements LocalDelivery {
  constructor(
    private readonly io: Server<DefaultEventsMap, DefaultEventsMap, DefaultEventsMap, SocketData>,
    private readonly envelopes: EnvelopeFactory,
    /** Resolves once the cluster adapter's pending topic subscriptions are in place. */
    private readonly topicsReady: () => Promise<void>,
  ) {}

  emit(socketIds: readonly SocketId[], envelope: Envelope, options?: EmitOptions): void {
    let op = this.io.local.to([...socketIds]);
    if (options?.volatile) op = op.volatile;
    op.emit(envelope.payload.action, envelope);
  }

  emitToTopic(topic: string, envelope: Envelope, options?: EmitOptions): void {
    let op = this.io.to(topic);
    if (options?.volatile) op = op.volatile;
    op.emit(envelope.payload.action, envelope);
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
