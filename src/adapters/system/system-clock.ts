import type { Clock } from '../../ports/system.js';

export const systemClock: Clock = { now: () => Date.now() };
