/*
 * Preloaded into every server process the bench starts (`--import bench/probe.ts`, with
 * `--expose-gc`): on SIGUSR2 it collects garbage and prints the process's memory as one
 * JSON line `{"probe":{…}}` on stdout, which bench/processes.ts picks up. Nothing else
 * changes in the server.
 */
const gc = (globalThis as { gc?: () => void }).gc;

process.on('SIGUSR2', () => {
  gc?.();
  // A second pass after the first one's weak callbacks and finalizers ran.
  setTimeout(() => {
    gc?.();
    const m = process.memoryUsage();
    process.stdout.write(`${JSON.stringify({ probe: { pid: process.pid, rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, at: Date.now() } })}\n`);
  }, 50);
});

export {};
