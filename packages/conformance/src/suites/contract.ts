import { constants } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import type { SuiteContext } from '../context.js';

const REQUIRED_METHODS = [
  'get',
  'getMany',
  'set',
  'setMany',
  'add',
  'touch',
  'incr',
  'decr',
  'delete',
  'deleteMany',
  'clear',
  'flush',
  'close',
] as const;
const OPTIONAL_METHODS = [
  'setAndRead',
  'deleteIf',
  'setIf',
  'ping',
  'serverFor',
  'onWarning',
  'ttlOf',
] as const;

/**
 * The static shape: the declared capabilities match the caller's literal, every required method
 * exists, the name is a short stable token, and the limits are usable integers.
 */
export function describeContract(ctx: SuiteContext): void {
  describe('contract', () => {
    it('declares the capabilities the suite was told about', () => {
      expect(ctx.backend().capabilities).toEqual(ctx.capabilities);
    });

    it('implements every required method, and optional ones only as methods', () => {
      const backend = ctx.backend() as unknown as Record<string, unknown>;
      for (const method of REQUIRED_METHODS)
        expect(typeof backend[method], method).toBe('function');
      for (const method of OPTIONAL_METHODS) {
        expect(['function', 'undefined'], method).toContain(typeof backend[method]);
      }
    });

    it('has a short lowercase name, the same on every instance', async () => {
      const { name } = ctx.backend();
      expect(name).toMatch(/^[a-z][a-z0-9-]{0,31}$/);
      expect((await ctx.another()).name).toBe(name);
    });

    it('declares integer limits: keys of at least minKeyBytes, values of at least 1 KiB', () => {
      const { maxKeyBytes, maxValueBytes } = ctx.backend().limits;
      expect(Number.isSafeInteger(maxKeyBytes)).toBe(true);
      expect(maxKeyBytes).toBeGreaterThanOrEqual(ctx.minKeyBytes);
      expect(Number.isSafeInteger(maxValueBytes)).toBe(true);
      expect(maxValueBytes).toBeGreaterThanOrEqual(1024);
      // A value of maxValueBytes must fit in one Buffer, or no caller could ever hand one over.
      expect(maxValueBytes).toBeLessThanOrEqual(constants.MAX_LENGTH);
    });
  });
}
