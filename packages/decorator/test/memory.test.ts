import { createMemoryBackend } from '@stowage/backend-memory';
import { manualClock } from './helpers.js';
import { describeDecoratorSuite } from './suite.js';

// One clock for every backend the suite creates: TTL tests move it instead of sleeping.
const clock = manualClock();

describeDecoratorSuite('memory', {
  createBackend: () => createMemoryBackend({ clock }),
  advanceTime: (ms) => clock.advance(ms),
});
