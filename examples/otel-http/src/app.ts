// The HTTP service: one route reads a product through the cache, one drops it from the cache.
// Each request runs inside a SERVER span, so the cache spans @stowage/otel records nest under the
// request that caused them.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import type { CacheClient } from '@stowage/core';
import type { Catalog, Product } from './catalog.js';

const tracer = trace.getTracer('@stowage/example-otel-http');

/** Product ids the key rules accept, kept short. */
const PRODUCT = /^\/products\/([\w-]{1,40})$/;

function send(
  res: ServerResponse,
  span: Span,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  span.setAttribute('http.response.status_code', status);
  if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/** Builds the service on one cache client and one catalog; `listen` is left to the caller. */
export function createApp(cache: CacheClient<Product>, catalog: Catalog): Server {
  async function route(req: IncomingMessage, res: ServerResponse, span: Span): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const product = PRODUCT.exec(path);
    if (product === null) {
      span.updateName(`${req.method} unknown route`);
      return send(res, span, path === '/health' ? 200 : 404, { ok: path === '/health' });
    }
    const id = product[1]!;
    span.updateName(`${req.method} /products/:id`);
    span.setAttribute('http.route', '/products/:id');
    if (req.method === 'GET') {
      // Single-flight and leases make concurrent misses share one lookup; `computed` tells this
      // request whether it was the one that ran it.
      let computed = false;
      const found = await cache.getOrSet(
        `product:${id}`,
        ({ signal }) => {
          computed = true;
          return catalog.lookup(id, signal);
        },
        { ttl: '1m' },
      );
      return send(res, span, 200, found, { 'x-cache': computed ? 'miss' : 'hit' });
    }
    if (req.method === 'DELETE') {
      return send(res, span, 200, { deleted: await cache.delete(`product:${id}`) });
    }
    send(res, span, 405, { error: 'method not allowed' });
  }

  return createServer((req, res) => {
    // What @opentelemetry/instrumentation-http would create; by hand here, because patching
    // node:http from an ES module needs a loader hook that would hide what this example shows.
    const attributes = { 'http.request.method': req.method ?? 'GET', 'url.path': req.url ?? '/' };
    void tracer.startActiveSpan(
      `${req.method} ${req.url}`,
      { kind: SpanKind.SERVER, attributes },
      async (span) => {
        try {
          await route(req, res, span);
        } catch (error) {
          span.recordException(error instanceof Error ? error : String(error));
          send(res, span, 500, { error: error instanceof Error ? error.message : String(error) });
        } finally {
          span.end();
        }
      },
    );
  });
}
