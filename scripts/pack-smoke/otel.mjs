// Runs inside a fresh project that installed the packed tarballs with npm (scripts/pack-check.mjs).
// No OpenTelemetry SDK is installed here, only the API (the peer dependency): a small recording
// tracer and meter stand in for it, which is all instrumentStowage needs.
import assert from 'node:assert/strict';
import { trace } from '@opentelemetry/api';
import { CacheClient } from '@stowage/core';
import { createMemoryBackend } from '@stowage/backend-memory';
import { instrumentStowage, STOWAGE_METRICS } from '@stowage/otel';

const spans = [];
const tracerProvider = {
  getTracer: () => ({
    startSpan(name, options, parentContext) {
      const span = {
        name,
        kind: options.kind,
        attributes: { ...options.attributes },
        parent: parentContext === undefined ? undefined : trace.getSpan(parentContext),
        ended: false,
        spanContext: () => ({ traceId: '1'.repeat(32), spanId: '2'.repeat(16), traceFlags: 1 }),
        setAttribute: (key, value) => ((span.attributes[key] = value), span),
        setAttributes: (more) => (Object.assign(span.attributes, more), span),
        recordException: () => {},
        setStatus: () => span,
        isRecording: () => true,
        end: () => {
          span.ended = true;
          spans.push(span);
        },
      };
      return span;
    },
  }),
};
const points = [];
const instrument = (name) => ({
  add: (value, attributes) => points.push({ name, value, attributes }),
  record: (value, attributes) => points.push({ name, value, attributes }),
});
const meterProvider = {
  getMeter: () => ({ createHistogram: instrument, createCounter: instrument }),
};

const installed = instrumentStowage({ tracerProvider, meterProvider });
const cache = new CacheClient({ backend: createMemoryBackend() });
await cache.set('k', 'v');
assert.equal(await cache.get('k'), 'v');
assert.equal(await cache.getOrSet('g', async () => 42), 42);

assert.deepEqual(
  spans.map((span) => span.name),
  ['stowage set', 'stowage get', 'stowage factory', 'stowage getOrSet'],
);
const get = spans[1];
assert.equal(get.attributes['db.system.name'], 'stowage.memory');
assert.equal(get.attributes['db.operation.name'], 'get');
assert.equal(get.attributes['stowage.outcome'], 'hit');
assert.equal(spans[2].parent, spans[3], 'the factory span is a child of its getOrSet span');
assert.equal(points.filter((p) => p.name === STOWAGE_METRICS.hits).length, 1);
assert.equal(points.filter((p) => p.name === 'db.client.operation.duration').length, 3);

installed.uninstall();
await cache.get('k');
assert.equal(spans.length, 4, 'nothing recorded after uninstall');
await cache.close();
console.log('otel ESM ok');
