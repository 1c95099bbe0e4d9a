// The checker compares timestamps taken in different processes, so they must come from one clock.
// A child's reading, taken between the parent's two readings around a round trip, must fall
// between them; a per-process origin (performance.timeOrigin) was ~20 ms off in a loaded CI run.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { now } from '../src/history.js';

const CHILD = `
const now = () => Number(process.hrtime.bigint()) / 1e6;
process.on('message', () => { process.send(now()); });
`;

describe('the soak clock', () => {
  it('is the same clock in every process: a child reads a time between two parent reads', async () => {
    // The child computes the clock as history.ts does; the test also checks the two agree.
    expect(Math.abs(now() - Number(process.hrtime.bigint()) / 1e6)).toBeLessThan(50);
    const child = spawn(process.execPath, ['-e', CHILD], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    try {
      await new Promise<void>((resolve) => child.once('spawn', () => resolve()));
      for (let round = 0; round < 20; round++) {
        const before = now();
        const theirs = await new Promise<number>((resolve) => {
          child.once('message', (value) => resolve(value as number));
          child.send('now');
        });
        const after = now();
        expect(theirs).toBeGreaterThanOrEqual(before);
        expect(theirs).toBeLessThanOrEqual(after);
      }
    } finally {
      child.kill();
    }
  });
});
