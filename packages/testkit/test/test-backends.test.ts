// The test backends core's and the decorator's tests share: they must keep the backend contract
// where the tests rely on it, and inject exactly the fault asked for.
import { describe, expect, it, vi } from 'vitest';
import { FaultBackend, RecordingBackend, refusedError, type Warning } from '../src/index.js';

const bytes = (text: string): Buffer => Buffer.from(text, 'utf8');

describe('RecordingBackend', () => {
  it('stores, records every call, and expires entries on its clock', () => {
    let now = 1_000;
    const backend = new RecordingBackend({ now: () => now });
    expect(backend.set('k', { value: bytes('v'), flags: 2 }, 1)).toBe(true);
    expect(backend.get('k')).toEqual({ value: bytes('v'), flags: 2 });
    now += 1_000;
    expect(backend.get('k')).toBeUndefined();
    expect(backend.ops).toEqual(['set', 'get', 'get']);
  });

  it('counts like memcached and throws a Stowage-shaped error on a non-integer', () => {
    const backend = new RecordingBackend();
    backend.put('n', '18446744073709551615', 3);
    expect(backend.incr('n', 1n)).toBe(0n);
    expect(backend.decr('n', 5n)).toBe(0n);
    backend.put('s', 'text', 1);
    expect(() => backend.incr('s', 1n)).toThrow(
      expect.objectContaining({ name: 'CacheValueError', code: 'E_CACHE_VALUE' }),
    );
  });

  it('answers with promises when asked to, and offers setAndRead and deleteIf only on request', async () => {
    const plain = new RecordingBackend();
    expect(plain.setAndRead).toBeUndefined();
    const remote = new RecordingBackend({ async: true, setAndRead: true, deleteIf: true });
    const answer = remote.setAndRead?.('k', { value: bytes('v'), flags: 1 }, 0);
    expect(answer).toBeInstanceOf(Promise);
    expect(await answer).toEqual({ value: bytes('v'), flags: 1 });
    expect(await remote.deleteIf?.('k', { value: bytes('other'), flags: 1 })).toBe(false);
    expect(await remote.deleteIf?.('k', { value: bytes('v'), flags: 1 })).toBe(true);
  });

  it('stores what tamper returns and answers stored, and reports refused keys of a batch', () => {
    const backend = new RecordingBackend();
    backend.tamper = (key, entry) => (key === 'gone' ? undefined : { ...entry, flags: 9 });
    expect(backend.set('k', { value: bytes('v'), flags: 1 }, 0)).toBe(true);
    expect(backend.peek('k')?.flags).toBe(9);
    expect(backend.set('gone', { value: bytes('v'), flags: 1 }, 0)).toBe(true);
    expect(backend.peek('gone')).toBeUndefined();
    backend.refuse = (key) => key === 'b';
    const entry = { value: bytes('v'), flags: 1 };
    const writes = ['a', 'b'].map((key) => ({ key, entry }));
    expect(backend.setMany(writes, 0)).toEqual(['b']);
    expect(backend.keys()).toEqual(['k', 'a']);
  });
});

describe('FaultBackend', () => {
  it('passes calls through, synchronously when the inner backend is', () => {
    const backend = new FaultBackend(new RecordingBackend());
    expect(backend.set('k', { value: bytes('v'), flags: 1 }, 0)).toBe(true);
    expect(backend.calls).toBe(1);
  });

  it('rejects only the operations in ops, and holds calls until answered late', async () => {
    const inner = new RecordingBackend();
    const backend = new FaultBackend(inner);
    backend.mode = { kind: 'alwaysReject', error: refusedError() };
    backend.ops = new Set(['get']);
    await expect(backend.get('k')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(backend.set('k', { value: bytes('v'), flags: 1 }, 0)).toBe(true);
    backend.mode = { kind: 'neverAnswer' };
    backend.ops = undefined;
    const held = backend.delete('k');
    expect(backend.pending).toBe(1);
    expect(inner.peek('k')).toBeDefined(); // not run yet
    await backend.answerLate();
    expect(await held).toBe(true);
    expect(inner.peek('k')).toBeUndefined();
  });

  it('declares the deadline it is told to claim', () => {
    const backend = new FaultBackend(new RecordingBackend(), { timeoutMs: 250 });
    expect(backend.capabilities.timeoutMs).toBe(250);
    expect(backend.capabilities.ttlPrecision).toBe('milliseconds');
  });
});

describe('FaultBackend modes and optional methods', () => {
  it('throws synchronously in alwaysThrow, and runs the call late in delay', async () => {
    vi.useFakeTimers();
    try {
      const inner = new RecordingBackend();
      const backend = new FaultBackend(inner);
      backend.mode = { kind: 'alwaysThrow', error: refusedError() };
      expect(() => backend.get('k')).toThrow(/ECONNREFUSED/);
      backend.mode = { kind: 'delay', ms: 50 };
      const late = backend.set('k', { value: bytes('v'), flags: 1 }, 0);
      expect(inner.peek('k')).toBeUndefined();
      await vi.advanceTimersByTimeAsync(50);
      expect(await late).toBe(true);
      expect(inner.peek('k')).toBeDefined();
    } finally {
      vi.useRealTimers();
    }
  });

  it("forwards the inner backend's warnings, unfaulted, and has no onWarning when it has none", () => {
    expect(new FaultBackend(new RecordingBackend()).onWarning).toBeUndefined();
    const listeners: Array<(warning: Warning) => void> = [];
    const inner = Object.assign(new RecordingBackend(), {
      onWarning: (listener: (warning: Warning) => void) => {
        listeners.push(listener);
        return () => {};
      },
    });
    const backend = new FaultBackend(inner);
    backend.mode = { kind: 'alwaysThrow' };
    const seen: Warning[] = [];
    backend.onWarning?.((warning) => seen.push(warning));
    listeners[0]?.({ operation: 'get', error: new Error('replica lag') });
    expect(seen.map((warning) => warning.error.message)).toEqual(['replica lag']);
  });
});
