import { describeBackendConformance } from '@stowage/conformance';
import { createMemoryBackend } from '../src/index.js';

// One clock for every instance the suite creates: TTL tests move it instead of sleeping.
const clock = { time: 1_000_000, now: () => clock.time };

describeBackendConformance('memory', {
  // What the memory backend must declare, written out: never read back from the backend under test.
  capabilities: {
    ttlPrecision: 'milliseconds',
    scopedClear: true,
    counters: 'unsigned64',
    delayedFlush: true,
  },
  create: () => createMemoryBackend({ clock }),
  advanceTime: (ms) => {
    clock.time += ms;
  },
});
