import { CacheConfigError } from '@stowage/core';
import { runWithCacheScope } from '@stowage/decorator';
import type { StowageRequestScope, StowageSetup } from './options.js';

/** The ids of one request, each a string or `undefined`; anything else is refused. */
function readScope(found: unknown): StowageRequestScope {
  if (found === undefined || found === null) return {};
  if (typeof found !== 'object') {
    throw new CacheConfigError(
      `the StowageModule \`scope\` resolver must return { stack, session } or undefined; got ${typeof found}`,
    );
  }
  const { stack, session } = found as Record<string, unknown>;
  for (const [field, id] of [
    ['stack', stack],
    ['session', session],
  ] as const) {
    // A repeated header arrives as a string[]; guessing which element is the tenant could serve
    // another tenant's entries, so the request is refused instead.
    if (id !== undefined && typeof id !== 'string') {
      throw new CacheConfigError(
        `the StowageModule \`scope\` resolver returned a ${field} that is not a string (${Array.isArray(id) ? 'an array: a repeated header?' : typeof id})`,
      );
    }
  }
  return { stack: stack as string | undefined, session: session as string | undefined };
}

/**
 * The signature Nest passes a functional middleware, whichever HTTP adapter runs it. It returns a
 * Promise when the resolver does; Nest awaits it and sends a rejection to its exception filters.
 */
export type StowageMiddleware = (
  request: unknown,
  response: unknown,
  next: () => void,
) => void | Promise<void>;

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/**
 * The middleware `StowageModule` mounts on every route: it reads the request's tenant and session
 * and runs the rest of the request — guards, interceptors, pipes, the handler and everything it
 * awaits — inside `runWithCacheScope` with the module's client. Errors from the resolver are
 * thrown (or rejected) before `next()`, so Nest's exception filters answer and no handler runs.
 */
export function scopeMiddleware(setup: StowageSetup): StowageMiddleware {
  const { client, scope } = setup;
  const enter = (found: unknown, next: () => void): void => {
    const ids = readScope(found);
    // Both ids are always set, to undefined when missing: a field that is present wins over an
    // enclosing scope, so a request without a tenant can never inherit one.
    runWithCacheScope({ client, stack: ids.stack, session: ids.session }, next);
  };
  return function stowageScope(request, _response, next) {
    const found = scope === undefined ? undefined : scope(request);
    if (isThenable(found)) return Promise.resolve(found).then((ids) => enter(ids, next));
    enter(found, next);
    return undefined;
  };
}
