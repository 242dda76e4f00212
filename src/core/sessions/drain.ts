export interface DrainPlan<T> {
  /** When to close the batch, in ms from the start of the drain. */
  atMs: number;
  items: T[];
}

/** Smallest batch worth a timer of its own. */
const MIN_BATCH = 50;
/** Shortest spacing between batches. */
const MIN_SPACING_MS = 100;

/**
 * Spreads the connections of a draining server over `windowMs` in batches, each at a
 * random moment inside its own slot, so clients told to reconnect elsewhere arrive at the
 * other servers as a trickle instead of a storm. A handful of connections is closed at once.
 */
export function planDrain<T>(items: readonly T[], windowMs: number, random: () => number = Math.random): DrainPlan<T>[] {
  if (items.length === 0) return [];
  const batches = Math.max(1, Math.min(Math.ceil(items.length / MIN_BATCH), Math.floor(windowMs / MIN_SPACING_MS)));
  const slot = windowMs / batches;
  const size = Math.ceil(items.length / batches);
  const plan: DrainPlan<T>[] = [];
  for (let i = 0; i < batches; i++) {
    const chunk = items.slice(i * size, (i + 1) * size);
    if (chunk.length > 0) plan.push({ atMs: batches === 1 ? 0 : Math.floor(i * slot + random() * slot), items: chunk });
  }
  return plan;
}

/** Runs a drain plan: calls `close` for each batch at its moment; resolves after the last. */
export function runDrain<T>(plan: readonly DrainPlan<T>[], close: (items: T[]) => void): Promise<void> {
  return Promise.all(
    plan.map((batch) => new Promise<void>((resolve) => {
      setTimeout(() => {
        close(batch.items);
        resolve();
      }, batch.atMs);
    })),
  ).then(() => undefined);
}
