import type { SessionInfo } from '../../core/sessions/session-service.js';

/** What the server attaches to each authenticated socket (`socket.data`). */
export interface SocketData {
  session: SessionInfo;
}
