import type { Message } from '../../domain/model.js';

/** The wire form of a message: the stored message minus its tenant (the envelope carries it). */
export type WireMessage = Omit<Message, 'tenantId' | 'attachment'> & { attachment?: Uint8Array };

export function toWireMessage(m: Message): WireMessage {
  const { tenantId: _tenant, attachment, ...rest } = m;
  return attachment ? { ...rest, attachment } : rest;
}
