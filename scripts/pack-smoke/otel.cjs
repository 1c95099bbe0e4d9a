// Runs inside a fresh project that installed the packed tarballs with npm (scripts/pack-check.mjs).
// The CommonJS build of @stowage/otel sees calls of the ESM build of @stowage/core: the tracing
// channels are process-wide by name, whichever copy publishes.
const assert = require('node:assert/strict');
const { instrumentStowage, INSTRUMENTED_OPERATIONS } = require('@stowage/otel');

(async () => {
  const { CacheClient } = await import('@stowage/core');
  const { createMemoryBackend } = await import('@stowage/backend-memory');
  const names = [];
  const span = (name) => {
    const self = {
      spanContext: () => ({ traceId: '1'.repeat(32), spanId: '2'.repeat(16), traceFlags: 1 }),
      setAttribute: () => self,
      setAttributes: () => self,
      recordException: () => {},
      setStatus: () => self,
      isRecording: () => true,
      end: () => names.push(name),
    };
    return self;
  };
  const tracerProvider = { getTracer: () => ({ startSpan: (name) => span(name) }) };
  const noop = { add: () => {}, record: () => {} };
  const meterProvider = {
    getMeter: () => ({ createHistogram: () => noop, createCounter: () => noop }),
  };
  assert.ok(INSTRUMENTED_OPERATIONS.includes('getOrSet'));
  const installed = instrumentStowage({ tracerProvider, meterProvider, serverAddress: 'h' });
  const cache = new CacheClient({ backend: createMemoryBackend() });
  await cache.set('k', 1);
  await assert.rejects(cache.get('bad key'), { code: 'E_CACHE_KEY' });
  assert.deepEqual(names, ['stowage set', 'stowage get']);
  installed.uninstall();
  await cache.get('k');
  assert.equal(names.length, 2);
  await cache.close();
  console.log('otel CommonJS ok');
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
