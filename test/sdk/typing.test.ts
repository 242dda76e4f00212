import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TypingIndicator } from '../../packages/client/src/typing.js';

describe('TypingIndicator', () => {
  it('sends one typing:start per throttle window and typing:stop after the user pauses', async () => {
    let now = 0;
    const sent: string[] = [];
    let stopped!: () => void;
    const stop = new Promise<void>((resolve) => (stopped = resolve));
    const typing = new TypingIndicator((event, c) => {
      sent.push(`${event} ${c}`);
      if (event === 'typing:stop') stopped();
    }, { throttleMs: 1000, idleMs: 20 }, () => now);
    typing.typing('c1');
    now = 500;
    typing.typing('c1');
    now = 1000;
    typing.typing('c1');
    typing.typing('c2');
    assert.deepEqual(sent, ['typing:start c1', 'typing:start c1', 'typing:start c2']);
    typing.sent('c2');
    await stop;
    assert.deepEqual(sent.slice(3), ['typing:stop c1'], 'c2 ended with its message: no stop sent');
  });

  it('sends typing:stop only for a conversation it started', () => {
    const sent: string[] = [];
    const typing = new TypingIndicator((event) => sent.push(event));
    typing.stop('never-started');
    typing.typing('c1');
    typing.stop('c1');
    typing.stop('c1');
    assert.deepEqual(sent, ['typing:start', 'typing:stop']);
  });
});
