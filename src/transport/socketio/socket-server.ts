import type { Server as HttpServer } from 'node:http';
import { Server, type DefaultEventsMap, type ExtendedError, type ServerOptions, type Socket } from 'socket.io';
import { SwitchboardError, toErrorBody } from '../../domain/errors.js';
import { asDeviceId, asSocketId, ID_PATTERN } from '../../domain/ids.js';
import { SUPPORTED_PROTOCOL_VERSIONS, PROTOCOL_VERSION } from '../../domain/protocol/envelope.js';
import { describeIssues, HandshakeInbox } from '../../domain/protocol/schemas.js';
import type { Logger } from '../../ports/logger.js';
import type { Clock } from '../../ports/system.js';
import type { SocketData } from './socket-data.js';

export type SwitchboardIo = Server<DefaultEventsMap, DefaultEventsMap, DefaultEventsMap, SocketData>;
export type SwitchboardSocket = Socket<DefaultEventsMap, DefaultEventsMap, DefaultEventsMap, SocketData>;

export interface SocketServerOptions {
  pingIntervalMs: number;
  pingTimeoutMs: number;
  /** Transport limit of one packet; larger ones close the connection (engine.io rule). */
  maxHttpBufferBytes: number;
  perMessageDeflate: boolean;
  transports: ('websocket' | 'polling')[];
  corsOrigin: string;
}

/** Creates the Socket.IO server on the shared HTTP server. */
export function createSocketServer(httpServer: HttpServer, o: SocketServerOptions): SwitchboardIo {
  const options: Partial<ServerOptions> = {
    pingInterval: o.pingIntervalMs,
    pingTimeout: o.pingTimeoutMs,
    maxHttpBufferSize: o.maxHttpBufferBytes,
    perMessageDeflate: o.perMessageDeflate ? { threshold: 1024 } : false,
    transports: o.transports,
    cors: { origin: o.corsOrigin === '*' ? true : o.corsOrigin.split(',').map((s) => s.trim()) },
    serveClient: true,
  };
  return new Server(httpServer, options);
}

export interface HandshakeDeps {
  /** This server, recorded in each session (its entry in the connection registry). */
  serverId: import('../../domain/ids.js').ServerId;
  verify(token: string): Promise<import('../../ports/token-verifier.js').TokenClaims>;
  admit(tenantId: import('../../domain/ids.js').TenantId, userId: import('../../domain/ids.js').UserId): Promise<void>;
  accepting(): boolean;
  /** Take the client address from the first X-Forwarded-For entry. */
  trustProxy: boolean;
  clock: Clock;
  logger: Logger;
}

/**
 * Authenticates the handshake: protocol version `auth.v`, JWT `auth.token`, connection
 * limit. Failures reach the client as `connect_error` with `err.data` in the error format.
 */
export function handshakeMiddleware(deps: HandshakeDeps) {
  return async (socket: SwitchboardSocket, next: (err?: ExtendedError) => void): Promise<void> => {
    try {
      if (!deps.accepting()) throw new SwitchboardError('UNAVAILABLE', 'The server is not accepting connections; try another');
      const auth = (socket.handshake.auth ?? {}) as Record<string, unknown>;
      const version = auth.v ?? PROTOCOL_VERSION;
      if (typeof version !== 'number' || !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) {
        throw new SwitchboardError('PROTOCOL_UNSUPPORTED', undefined, { supported: SUPPORTED_PROTOCOL_VERSIONS });
      }
      if (typeof auth.token !== 'string' || auth.token.length === 0) throw new SwitchboardError('AUTH_REQUIRED');
      const claims = await deps.verify(auth.token);
      // A credential, and a few hundred bytes per connection: not kept once verified (set, not
      // deleted: a delete would turn the object into a dictionary, larger than the token).
      auth.token = undefined;
      const requestedDevice = typeof auth.deviceId === 'string' && ID_PATTERN.test(auth.deviceId) ? auth.deviceId : null;
      const inbox = auth.inbox === undefined ? null : HandshakeInbox.safeParse(auth.inbox);
      if (inbox && !inbox.success) {
        throw new SwitchboardError('VALIDATION_FAILED', 'auth.inbox must be {} or { after: offset }', describeIssues(inbox.error).map((i) => ({ ...i, field: i.field === '(root)' ? 'inbox' : `inbox.${i.field}` })));
      }
      await deps.admit(claims.tenantId, claims.userId);
      socket.data.session = {
        socketId: asSocketId(socket.id),
        serverId: deps.serverId,
        tenantId: claims.tenantId,
        userId: claims.userId,
        // A device named in the token wins over one the client names itself.
        deviceId: claims.deviceId ?? asDeviceId(requestedDevice ?? socket.id),
        userAgent: String(socket.handshake.headers['user-agent'] ?? ''),
        ip: clientAddress(socket, deps.trustProxy),
        transport: socket.conn.transport.name,
        connectedAt: new Date(deps.clock.now()).toISOString(),
        expiresAt: claims.expiresAt,
        inbox: inbox ? inbox.data : null,
      };
      next();
    } catch (err) {
      const body = toErrorBody(err, new Date(deps.clock.now()));
      if (!(err instanceof SwitchboardError)) deps.logger.error({ err }, 'handshake failed');
      const error: ExtendedError = Object.assign(new Error(body.message), { data: body });
      next(error);
    }
  };
}

function clientAddress(socket: SwitchboardSocket, trustProxy: boolean): string {
  const forwarded = socket.handshake.headers['x-forwarded-for'];
  const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim();
  return trustProxy && first ? first : socket.handshake.address;
}
