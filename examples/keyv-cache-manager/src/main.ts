// Runs the demo on the cache CACHE_URL names (memory:// by default; memcached://127.0.0.1:11211,
// redis://127.0.0.1:6379), then closes the client. LOOKUP_DELAY_MS (default 200) sets how slow
// the price source is.
import { getCache } from '@stowage/core';
import { runDemo } from './demo.js';

const delayMs = Number(process.env['LOOKUP_DELAY_MS'] ?? 200);
if (!Number.isInteger(delayMs) || delayMs < 0)
  throw new Error('LOOKUP_DELAY_MS must be an integer');

const client = await getCache({ prefix: 'shop' });
console.log(`cache-manager over Stowage (${client.backend.name})`);
try {
  await runDemo(client, { delayMs, log: (line) => console.log(line) });
} finally {
  await client.close();
}
