// The checker on hand-made histories: each class is found where it should be and nowhere else,
// so a soak that reports zero stale and zero foreign reads means something.
import { describe, expect, it } from 'vitest';
import { classify, OpKind, type OpRecord } from '../src/history.js';

const bounds = { unconfirmedVisibleMs: 1000, slackMs: 2 };

const write = (
  process: number,
  a: number,
  b: number,
  id: string,
  confirmed = true,
  key = 'k',
): OpRecord => [OpKind.Write, key, process, a, b, confirmed, id, 'set'];
const del = (process: number, a: number, b: number, confirmed = true): OpRecord => [
  OpKind.Delete,
  'k',
  process,
  a,
  b,
  confirmed,
  null,
  'delete',
];
const read = (process: number, a: number, b: number, id: string | null, key = 'k'): OpRecord => [
  OpKind.Read,
  key,
  process,
  a,
  b,
  true,
  id,
  'get',
];

describe('classify', () => {
  it('a read of the latest confirmed write, or a miss, is ok', () => {
    const c = classify(
      [
        write(0, 0, 10, '0:0'),
        write(1, 20, 30, '1:0'),
        read(0, 40, 45, '1:0'),
        read(1, 50, 51, null),
      ],
      bounds,
    );
    expect(c).toMatchObject({ reads: 2, ok: 2, stale: 0, foreign: 0, hits: 1, misses: 1 });
  });

  it('a value older than a confirmed write that began after it settled is stale', () => {
    const c = classify(
      [write(0, 0, 10, '0:0'), write(1, 20, 30, '1:0'), read(2, 40, 45, '0:0')],
      bounds,
    );
    expect(c.stale).toBe(1);
    expect(c.examples[0]).toMatchObject({ kind: 'stale', key: 'k', process: 2 });
  });

  it('a value read after a confirmed delete that began after it settled is stale (resurrection)', () => {
    const c = classify([write(0, 0, 10, '0:0'), del(1, 20, 30), read(0, 40, 45, '0:0')], bounds);
    expect(c.stale).toBe(1);
  });

  it('concurrent writes may land in either order', () => {
    const c = classify(
      [write(0, 0, 30, '0:0'), write(1, 10, 20, '1:0'), read(2, 40, 45, '0:0')],
      bounds,
    );
    expect(c.stale).toBe(0);
  });

  it('an unconfirmed write may surface until its bound, not after', () => {
    const history = [write(0, 0, 250, '0:0', false), write(1, 400, 410, '1:0')];
    expect(classify([...history, read(1, 500, 505, '0:0')], bounds).stale).toBe(0);
    const late = [write(0, 0, 250, '0:0', false), write(1, 1100, 1110, '1:0')];
    expect(classify([...late, read(1, 1200, 1205, '0:0')], bounds).stale).toBe(1);
  });

  it('a process never reads its own write in doubt over its own confirmed newer write', () => {
    const c = classify(
      [write(0, 0, 250, '0:0', false), write(0, 300, 310, '0:1'), read(0, 400, 405, '0:0')],
      bounds,
    );
    expect(c.stale).toBe(1);
    // Another process may (the late write is within the bound): that is the window's exception.
    const other = classify(
      [write(0, 0, 250, '0:0', false), write(0, 300, 310, '0:1'), read(1, 400, 405, '0:0')],
      bounds,
    );
    expect(other.stale).toBe(0);
  });

  it("another key's value, a damaged value and a value nobody wrote are foreign", () => {
    const c = classify(
      [
        write(0, 0, 10, '0:0', true, 'a'),
        read(1, 20, 25, '0:0', 'b'),
        read(1, 30, 35, '!value of a read as b', 'b'),
        read(1, 40, 45, '7:7', 'b'),
        read(1, 50, 55, '0:9', 'a'),
      ],
      bounds,
    );
    expect(c.foreign).toBe(4);
    expect(c.ok).toBe(0);
  });

  it('a value whose write began after the read ended is foreign', () => {
    const c = classify([read(1, 0, 5, '0:0'), write(0, 100, 110, '0:0')], bounds);
    expect(c.foreign).toBe(1);
  });

  it('counts a miss right after the reader’s own confirmed write as lost, not as a failure', () => {
    const c = classify([write(0, 0, 10, '0:0'), read(0, 20, 25, null)], bounds);
    expect(c).toMatchObject({ lost: 1, ok: 1, stale: 0, foreign: 0 });
    const deleted = classify(
      [write(0, 0, 10, '0:0'), del(1, 12, 14), read(0, 20, 25, null)],
      bounds,
    );
    expect(deleted.lost).toBe(0);
  });

  it('failed reads are neither ok nor violations', () => {
    const failed: OpRecord = [OpKind.Read, 'k', 0, 0, 300, false, null, 'get'];
    expect(classify([failed], bounds)).toMatchObject({ reads: 1, failedReads: 1, ok: 0 });
  });
});
