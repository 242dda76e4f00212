import { Encoder } from '@msgpack/msgpack';
import type { Envelope } from '../../domain/protocol/envelope.js';

/** One encoder reused for every inbox entry (`encode` returns a copy): `encode()` would allocate a new encoder and its buffer each time. */
const envelopeEncoder = new Encoder({ ignoreUndefined: true });

/** An inbox entry's stored form: the envelope as MessagePack, undefined fields left out. */
export function encodeEnvelope(envelope: Envelope): Uint8Array {
  return envelopeEncoder.encode(envelope);
}
