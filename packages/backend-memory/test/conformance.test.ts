import { describeBackendConformance } from '@stowage/conformance';
import { createMemoryBackend } from '../src/index.js';

// One clock for every instance the suite creates: TTL tests move it instead of sleeping.
const clock = { time: 1_000_000, now: () => clock.time };

describeBackendConformance('memory', {
  capabilities: createMemoryBackend().capabilities,
  create: () => createMemoryBackend({ clock }),
  advanceTime: (ms) => {
    clock.time += ms;
  },
});
