// Starts the service: telemetry first (so the first cache call is traced), then the cache, then
// the HTTP server. Environment:
//   PORT=8080 HOST=127.0.0.1 METRICS_PORT=9464 LOOKUP_DELAY_MS=200
//   CACHE_URL=memory:// (default) | memcached://127.0.0.1:11211 | redis://127.0.0.1:6379
import { getCache } from '@stowage/core';
import { createApp } from './app.js';
import { createCatalog, type Product } from './catalog.js';
import { startTelemetry } from './telemetry.js';

function intFromEnv(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be an integer`);
  return value;
}

/** `server.address` / `server.port` of a remote cache URL (its first host); none for memory. */
function cacheServerOf(
  url: string,
): { readonly address: string; readonly port: number | undefined } | undefined {
  const parsed = /^(?:memcached|rediss?):\/\/(?:[^@/]*@)?\[?([^\]/:,]+)\]?(?::(\d+))?/.exec(url);
  if (parsed === null) return undefined;
  return { address: parsed[1]!, port: parsed[2] === undefined ? undefined : Number(parsed[2]) };
}

const host = process.env['HOST'] ?? '127.0.0.1';
const port = intFromEnv('PORT', 8080);
// Blank counts as unset, as getCache reads it.
const cacheUrl = process.env['CACHE_URL']?.trim() || 'memory://';

const telemetry = await startTelemetry({
  serviceName: 'stowage-example-otel-http',
  metricsHost: host,
  metricsPort: intFromEnv('METRICS_PORT', 9464),
  cacheServer: cacheServerOf(cacheUrl),
});
const cache = await getCache<Product>({ prefix: 'catalog', url: cacheUrl });
const catalog = createCatalog(intFromEnv('LOOKUP_DELAY_MS', 200));
const server = createApp(cache, catalog);

server.listen(port, host, () => {
  console.log(
    `listening on http://${host}:${port} · cache ${cache.backend.name} · metrics on ${telemetry.metricsUrl}`,
  );
});

let stopping = false;
function stop(): void {
  if (stopping) return;
  stopping = true;
  // Requests first, then the cache, then telemetry, so the last spans still get printed.
  server.close(() => {
    void cache
      .close()
      .then(() => telemetry.shutdown())
      .finally(() => process.exit(0));
  });
  server.closeIdleConnections();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
