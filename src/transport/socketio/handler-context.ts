import type { SocketId } from '../../domain/ids.js';
import type { Principal } from '../../domain/model.js';
import type { DeviceStreams } from '../../core/delivery/device-streams.js';
import type { ConversationService } from '../../core/conversations/conversation-service.js';
import type { MessageService } from '../../core/messages/message-service.js';
import type { PresenceService } from '../../core/presence/presence-service.js';
import type { SessionService } from '../../core/sessions/session-service.js';
import type { TypingService } from '../../core/typing/typing-service.js';
import type { TokenVerifier } from '../../ports/token-verifier.js';

/** The feature services socket handlers call. */
export interface CoreServices {
  conversations: ConversationService;
  messages: MessageService;
  typing: TypingService;
  presence: PresenceService;
  sessions: SessionService;
  streams: DeviceStreams;
  verifier: TokenVerifier;
}

/** What a handler knows about the call: who, on which socket. */
export interface HandlerContext {
  principal: Principal;
  socketId: SocketId;
  core: CoreServices;
}
