import type { InboxOffset, InboxSynced } from './protocol.js';

/**
 * Tracks which inbox offsets this device holds (docs/protocol.md §12) and what it may
 * acknowledge. Pure state.
 *
 * An offset is *received* when its event arrived and *done* when the app has it (or it
 * was a duplicate). The cursor acknowledges the highest offset up to which every entry is
 * done — never one past a gap, and never one whose message still waits in the ordering
 * buffer, so a crash cannot lose an entry that was acknowledged.
 */
export class InboxCursor {
  /** Every offset up to here is done; null until the first `inbox:synced` of a new device. */
  private floor: InboxOffset | null;
  private readonly received = new Set<InboxOffset>();
  private readonly done = new Set<InboxOffset>();
  private acked: InboxOffset | null;

  /** `acked`: the offset acknowledged before (restored from storage), or null on a new device. */
  constructor(acked: InboxOffset | null) {
    this.floor = acked;
    this.acked = acked;
  }

  /** `auth.inbox` for the next handshake: replay after everything done. */
  handshake(): { after?: InboxOffset } {
    return this.floor === null ? {} : { after: this.floor };
  }

  /** Records an arriving offset; false when it is a repeat (resend or replay) to drop. */
  receive(offset: InboxOffset): boolean {
    if ((this.floor !== null && offset <= this.floor) || this.received.has(offset)) return false;
    this.received.add(offset);
    return true;
  }

  /** The app has the entry at `offset` (or does not need it). */
  complete(offset: InboxOffset): void {
    if (this.floor !== null && offset <= this.floor) return;
    this.done.add(offset);
    this.advance();
  }

  /**
   * Applies `inbox:synced`. Entries up to `head - replayed` were either done by this device
   * or removed by retention (`lost`); either way none will come, so the floor moves there.
   * Returns `'reset'` when the server's inbox is behind this device (it was emptied, e.g.
   * a server without persistent inboxes restarted): positions start again from `head`.
   */
  synced(s: InboxSynced): 'ok' | 'reset' {
    if (this.floor !== null && s.head < this.floor) {
      this.floor = s.head;
      this.acked = s.head;
      this.received.clear();
      this.done.clear();
      return 'reset';
    }
    const start = s.head - s.replayed;
    if (this.floor === null || start > this.floor) this.floor = start;
    for (const set of [this.received, this.done]) for (const o of set) if (o <= this.floor) set.delete(o);
    this.advance();
    return 'ok';
  }

  /** The offset to acknowledge now, or null when nothing new is done. */
  due(): InboxOffset | null {
    return this.floor !== null && (this.acked === null || this.floor > this.acked) ? this.floor : null;
  }

  /** Records that `offset` was acknowledged. */
  acknowledged(offset: InboxOffset): void {
    if (this.acked === null || offset > this.acked) this.acked = offset;
  }

  /** The server sent an entry again: our acknowledgement did not reach it, so it is due again. */
  repeatAck(): void {
    this.acked = null;
  }

  private advance(): void {
    if (this.floor === null) return;
    while (this.done.has(this.floor + 1)) {
      this.floor += 1;
      this.done.delete(this.floor);
      this.received.delete(this.floor);
    }
  }
}
