import type { Logger } from '../../ports/logger.js';

export interface SlowConsumerOptions {
  /** Outgoing bytes a connection may hold unsent before it is closed. */
  maxBufferedBytes: number;
  /** How often every connection is looked at. */
  everyMs: number;
}

/** What a connection holds unsent: Engine.IO's packets not yet handed to the transport, and the WebSocket's own buffer. */
interface Buffered {
  writeBuffer: { data?: unknown }[];
  transport: { socket?: { bufferedAmount?: number; terminate?: () => void } };
  close(discard?: boolean): void;
}

function bufferedBytes(conn: Buffered): number {
  let bytes = conn.transport.socket?.bufferedAmount ?? 0;
  for (const packet of conn.writeBuffer) {
    const data = packet.data;
    if (typeof data === 'string') bytes += data.length;
    else if (data instanceof Uint8Array) bytes += data.byteLength;
  }
  return bytes;
}

/**
 * Closes connections that do not read what they are sent. A client that stops reading (a
 * frozen tab, a stalled network) would otherwise make the server queue its events without
 * bound. Past the limit its buffered events are dropped and the connection is cut at once
 * (its socket destroyed, not closed politely behind data it will not read); it reconnects
 * and resumes from its inbox offset or from history by `seq`. Checked on a timer, so the
 * delivery path pays nothing; the limit can be passed by what one interval sends.
 */
export class SlowConsumerGuard {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    /** The server's connections (Socket.IO sockets of the main namespace). */
    private readonly sockets: () => Iterable<{ id: string; conn: object }>,
    private readonly options: SlowConsumerOptions,
    /** Called for each connection closed, e.g. to count it. */
    private readonly onClosed: () => void,
    private readonly logger: Logger,
  ) {}

  start(): void {
    if (this.options.maxBufferedBytes <= 0 || this.timer) return;
    this.timer = setInterval(() => this.sweep(), this.options.everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Closes every connection past the limit now. */
  private sweep(): void {
    for (const socket of this.sockets()) {
      const conn = socket.conn as unknown as Buffered;
      const bytes = bufferedBytes(conn);
      if (bytes <= this.options.maxBufferedBytes) continue;
      this.logger.warn({ socketId: socket.id, bufferedBytes: bytes, limit: this.options.maxBufferedBytes }, 'slow consumer: connection closed');
      this.onClosed();
      const ws = conn.transport.socket;
      conn.close(true);
      ws?.terminate?.();
    }
  }
}
