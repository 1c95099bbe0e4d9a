import { Redis } from 'ioredis';
import { Client as MemjsClient } from 'memjs';
import { Backend, Kind, type JsonValue, type Subject } from '../types.js';
import { getThenSet } from './get-then-set.js';

function parse(bytes: Buffer | string | null): unknown {
  return bytes === null ? undefined : JSON.parse(bytes.toString());
}

/**
 * memjs, as users call it: JSON strings, one `get` per key (memjs has no multi-get, so a batch of
 * 50 is 50 concurrent gets on its single connection).
 */
export const memjsRaw: Subject = {
  id: 'memcached/memjs',
  name: 'memjs',
  backend: Backend.Memcached,
  kind: Kind.Raw,
  baseline: true,
  description: 'memjs 1.3 client, JSON strings, `getMany` = 50 concurrent `get`s (no multi-get)',
  async setup(ctx) {
    const server = await ctx.memcached();
    const client = MemjsClient.create(server.address, { retries: 1, timeout: 1, keepAlive: true });
    const get = async (key: string): Promise<unknown> => parse((await client.get(key)).value);
    const set = (key: string, value: JsonValue): Promise<boolean> =>
      client.set(key, JSON.stringify(value), { expires: 0 });
    return {
      ops: {
        set,
        get,
        getMany: async (keys) => Promise.all(keys.map(get)),
        getOrSet: getThenSet(get, set),
      },
      teardown: async () => client.close(),
    };
  },
};

function ioredisSubject(autoPipelining: boolean): Subject {
  return {
    id: autoPipelining ? 'redis/ioredis-autopipeline' : 'redis/ioredis',
    name: autoPipelining ? 'ioredis (auto-pipelining)' : 'ioredis',
    backend: Backend.Redis,
    kind: Kind.Raw,
    baseline: !autoPipelining,
    description: autoPipelining
      ? 'ioredis 5 with `enableAutoPipelining: true` (commands of one tick share a write), JSON strings, MGET'
      : 'ioredis 5 client with its defaults (one socket write per command), JSON strings, `getMany` = one MGET',
    async setup(ctx) {
      const server = await ctx.redis();
      const client = new Redis({
        host: server.host,
        port: server.port,
        maxRetriesPerRequest: 1,
        enableAutoPipelining: autoPipelining,
      });
      const get = async (key: string): Promise<unknown> => parse(await client.get(key));
      const set = (key: string, value: JsonValue): Promise<'OK'> =>
        client.set(key, JSON.stringify(value));
      return {
        ops: {
          set,
          get,
          getMany: async (keys) => (await client.mget(...keys)).map(parse),
          getOrSet: getThenSet(get, set),
        },
        teardown: async () => {
          await client.quit();
        },
      };
    },
  };
}

/**
 * ioredis as users call it, with its defaults: JSON strings, `MGET` for the batch. The baseline
 * of the Redis backend.
 */
export const ioredisRaw: Subject = ioredisSubject(false);

/**
 * ioredis with auto-pipelining, which batches the commands of one tick into one socket write: a
 * second raw reference, since node-redis (under @keyv/redis) batches like this by default.
 */
export const ioredisAutoPipeline: Subject = ioredisSubject(true);
