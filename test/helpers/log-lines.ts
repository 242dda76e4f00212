import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

/** One JSON log line of a server process (pino). */
export interface LogLine {
  level?: number;
  msg?: string;
  [field: string]: unknown;
}

/** Calls `listener` with each log line a process prints; a line that is not JSON becomes its `msg`. */
export function onLogLines(stream: Readable, listener: (line: LogLine) => void): void {
  createInterface({ input: stream }).on('line', (text) => {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      line = { level: 30, msg: text };
    }
    listener(line);
  });
}
