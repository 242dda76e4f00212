/** Counts of the delivery guarantees' work, read by the status API and metrics. */
export class DeliveryCounters {
  /** Acknowledgements that moved a device forward. */
  acks = 0;
  /** Inbox entries sent again because they were not acknowledged in time. */
  retries = 0;
  /** Inbox entries sent by a replay after a reconnect. */
  replayed = 0;
  /** Inbox entries removed by retention before any device acknowledged them. */
  expired = 0;
  /** Inbox entries and log records parked in a dead-letter stream. */
  deadLetters = 0;
  /** Events delivered live only because their inbox could not be written. */
  liveOnly = 0;
  /** Connections closed because they left more than the limit of outgoing bytes unread. */
  slowConsumers = 0;
}
