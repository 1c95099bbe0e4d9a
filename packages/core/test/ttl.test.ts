import { describe, expect, it } from 'vitest';
import {
  CacheClient,
  CacheConfigError,
  CacheValueError,
  MAX_TTL_SECONDS,
  toTtlSeconds,
  type CacheClient as Client,
} from '../src/index.js';
import { RecordingBackend } from '@stowage/testkit';
import { recordingClient } from './helpers/clients.js';

describe('toTtlSeconds', () => {
  it.each<[unknown, number]>([
    [0, 0],
    [30, 30],
    [0.25, 0.25],
    ['500ms', 0.5],
    ['30s', 30],
    ['5m', 300],
    ['1h', 3600],
    ['7d', 604_800],
    ['1.5h', 5400],
    ['0.5s', 0.5],
    ['0s', 0],
    [' 5m ', 300],
    [MAX_TTL_SECONDS, MAX_TTL_SECONDS],
  ])('reads %j as %d seconds', (ttl, seconds) => {
    expect(toTtlSeconds(ttl)).toBe(seconds);
  });

  it.each<[string, unknown]>([
    ['a negative number', -1],
    ['a tiny negative number', -0.001],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['true', true],
    ['false', false],
    ['null', null],
    ['an object', { seconds: 5 }],
    ['a bigint', 5n],
    ['a number as a string without unit', '30'],
    ['a negative string', '-5s'],
    ['an unknown unit', '5w'],
    ['an upper-case unit', '5M'],
    ['exponent notation', '1e3s'],
    ['a space inside', '5 m'],
    ['the empty string', ''],
    ['a value over the maximum', MAX_TTL_SECONDS + 1],
    ['a unit string over the maximum', '30000d'],
  ])('refuses %s with CacheValueError', (_name, ttl) => {
    expect(() => toTtlSeconds(ttl)).toThrow(CacheValueError);
  });

  it('names the option in the message', () => {
    expect(() => toTtlSeconds(-1, 'defaultTtl')).toThrow(/`defaultTtl`/);
  });
});

describe('TTL on client writes', () => {
  it.each<[string, (c: Client) => Promise<unknown>]>([
    ['set', (c) => c.set('k', 1, { ttl: -1 })],
    ['setAndReturn', (c) => c.setAndReturn('k', 1, { ttl: Number.NaN })],
    ['setMany', (c) => c.setMany({ k: 1 }, { ttl: Number.POSITIVE_INFINITY })],
    ['add', (c) => c.add('k', 1, { ttl: true as unknown as number })],
    ['touch', (c) => c.touch('k', '5 minutes' as '5m')],
    ['getOrSet', (c) => c.getOrSet('k', () => 1, { ttl: MAX_TTL_SECONDS + 1 })],
  ])('%s refuses a bad TTL before any I/O', async (_name, call) => {
    const { client, backend } = recordingClient();
    await expect(call(client)).rejects.toThrow(CacheValueError);
    expect(backend.calls).toEqual([]);
  });

  it('passes the TTL to the backend in seconds', async () => {
    const { client, backend } = recordingClient();
    await client.set('a', 1, { ttl: '5m', skipIntegrityCheck: true });
    await client.setMany({ b: 1 }, { ttl: '500ms' });
    await client.add('c', 1, { ttl: 2.5 });
    await client.touch('c', '1h');
    expect(backend.calls.map((call) => [call.op, call.ttl])).toEqual([
      ['set', 300],
      ['setMany', 0.5],
      ['add', 2.5],
      ['touch', 3600],
    ]);
  });

  it('uses defaultTtl when a write gives none', async () => {
    const { client, backend } = recordingClient({ defaultTtl: '1m' });
    await client.set('a', 1, { skipIntegrityCheck: true });
    await client.set('b', 1, { ttl: 0, skipIntegrityCheck: true });
    expect(backend.calls.map((call) => call.ttl)).toEqual([60, 0]);
  });

  it('refuses a bad defaultTtl with CacheConfigError at construction', () => {
    expect(() => new CacheClient({ backend: new RecordingBackend(), defaultTtl: -5 })).toThrow(
      CacheConfigError,
    );
  });
});
