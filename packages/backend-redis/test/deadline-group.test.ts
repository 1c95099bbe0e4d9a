import { afterEach, describe, expect, it, vi } from 'vitest';
import { DeadlineGroup, GROUP_SPAN_MS } from '../src/deadline-group.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('DeadlineGroup', () => {
  it('expires every call still open when its timer fires, and only those', () => {
    vi.useFakeTimers();
    const group = new DeadlineGroup(100, 0);
    const expired: string[] = [];
    const settled = new Set<string>();
    for (const name of ['a', 'b', 'c']) {
      group.join(() => {
        if (!settled.has(name)) expired.push(name);
      });
    }
    settled.add('b');
    group.settled();
    vi.advanceTimersByTime(99);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(expired).toEqual(['a', 'c']);
    // Fired: it takes no more calls, so none joins a timer that will never fire again.
    expect(group.accepts(0)).toBe(false);
  });

  it('clears its timer once every call settled, and then takes no more calls', () => {
    vi.useFakeTimers();
    const group = new DeadlineGroup(100, 0);
    let expired = 0;
    group.join(() => expired++);
    group.join(() => expired++);
    expect(vi.getTimerCount()).toBe(1);
    group.settled();
    expect(vi.getTimerCount()).toBe(1);
    group.settled();
    expect(vi.getTimerCount()).toBe(0);
    expect(group.accepts(0)).toBe(false);
    vi.advanceTimersByTime(1000);
    expect(expired).toBe(0);
  });

  it(`takes calls only within ${GROUP_SPAN_MS} ms of its first, so none waits past the deadline`, () => {
    vi.useFakeTimers();
    const group = new DeadlineGroup(100, 50);
    expect(group.accepts(50)).toBe(true);
    expect(group.accepts(50 + GROUP_SPAN_MS - 0.01)).toBe(true);
    expect(group.accepts(50 + GROUP_SPAN_MS)).toBe(false);
  });
});
