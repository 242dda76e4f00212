import type { TenantId } from '../../domain/ids.js';
import { PROTOCOL_VERSION, type Envelope, type EnvelopeType } from '../../domain/protocol/envelope.js';
import type { Clock, IdGenerator } from '../../ports/system.js';

/** Builds server→client envelopes with a fresh id and timestamp. */
export class EnvelopeFactory {
  constructor(
    private readonly ids: IdGenerator,
    private readonly clock: Clock,
  ) {}

  create<D>(tenantId: TenantId, type: EnvelopeType, action: string, data: D): Envelope<D> {
    return {
      v: PROTOCOL_VERSION,
      type,
      id: this.ids.next(),
      tenant_id: tenantId,
      timestamp: this.clock.now(),
      payload: { action, data },
    };
  }
}
