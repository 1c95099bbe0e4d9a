// A node:http service that sets the tenant and the session once per request, through
// `runWithCacheScope`; the cached service methods below it never see a request object.
// Run it with `pnpm start:http` (PORT, default 8080, on 127.0.0.1) and try:
//   curl -H 'x-tenant: acme' -H 'x-session: s1' http://127.0.0.1:8080/profile
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { pathToFileURL } from 'node:url';
import { CacheClient } from '@stowage/core';
import { createMemoryBackend } from '@stowage/backend-memory';
import { invalidateAll, runWithCacheScope } from '@stowage/decorator';
import { createRateLookup } from './rates.js';
import { ProfileService } from './profile-service.js';

/** Ids allowed in a header: what the key rules accept, without the separator. */
const ID = /^[\w.-]{1,64}$/;

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' && ID.test(value) ? value : undefined;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** Builds the service on one cache client; `listen` is left to the caller. */
export function createApp(client: CacheClient): Server {
  const profiles = new ProfileService();
  const rates = createRateLookup(client);

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method === 'GET' && path === '/profile')
      return send(res, 200, await profiles.profile());
    if (req.method === 'GET' && path === '/plan') return send(res, 200, await profiles.plan());
    if (req.method === 'POST' && path === '/plan/refresh') {
      // Every cached plan of this tenant, in every process sharing the cache, without a key scan.
      await invalidateAll(profiles, 'plan');
      return send(res, 200, { refreshed: true });
    }
    const rate = /^\/rates\/([A-Z]{3})$/.exec(path);
    if (req.method === 'GET' && rate !== null) return send(res, 200, await rates.lookup(rate[1]!));
    if (req.method === 'GET' && path === '/stats') {
      return send(res, 200, { ...profiles.calls, rates: rates.upstreamCalls() });
    }
    send(res, 404, { error: 'not found' });
  }

  return createServer((req, res) => {
    // The one line a framework adds per request: tenant and session for every cached call below.
    const scope = { client, stack: header(req, 'x-tenant'), session: header(req, 'x-session') };
    runWithCacheScope(scope, () => route(req, res)).catch((error: unknown) => {
      send(res, 500, { error: error instanceof Error ? error.message : String(error) });
    });
  });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const client = new CacheClient({
    backend: createMemoryBackend(),
    prefix: 'profiles',
    service: 'profiles',
  });
  const port = Number(process.env['PORT'] ?? 8080);
  const host = process.env['HOST'] ?? '127.0.0.1';
  const server = createApp(client);
  server.listen(port, host, () => {
    console.log(`listening on http://${host}:${port}`);
  });
  process.on('SIGTERM', () => {
    server.close(() => void client.close());
  });
}
