import { describe, expect, it } from 'vitest';
import type { SuiteContext } from '../context.js';
import { entry, textOf } from '../helpers.js';

/** Two instances under different namespaces on one server, and what `clear()` removes. */
export function describeNamespaces(ctx: SuiteContext): void {
  const { key } = ctx;

  describe('namespaces', () => {
    it('two instances with different namespaces do not see each other’s keys', async () => {
      const other = await ctx.another();
      const k = key('iso');
      await ctx.backend().set(k, entry('mine'), 0);
      await other.set(k, entry('theirs'), 0);
      expect(textOf(await ctx.backend().get(k))).toBe('mine');
      expect(textOf(await other.get(k))).toBe('theirs');
      expect(await other.delete(k)).toBe(true);
      expect(textOf(await ctx.backend().get(k))).toBe('mine');
    });

    it.skipIf(!ctx.capabilities.scopedClear)(
      'clear() removes only its own namespace (scopedClear)',
      async () => {
        const other = await ctx.another();
        const k = key('scoped-clear');
        await ctx.backend().set(k, entry('mine'), 0);
        await other.set(k, entry('theirs'), 0);
        await ctx.backend().clear();
        expect(await ctx.backend().get(k)).toBeUndefined();
        expect(textOf(await other.get(k))).toBe('theirs');
        await other.clear();
        expect(await other.get(k)).toBeUndefined();
      },
    );

    it.skipIf(ctx.capabilities.scopedClear)(
      'clear() empties the server (no scopedClear)',
      async () => {
        const other = await ctx.another();
        const k = key('server-clear');
        await other.set(k, entry('theirs'), 0);
        expect(textOf(await other.get(k))).toBe('theirs');
        await ctx.backend().clear();
        expect(await other.get(k)).toBeUndefined();
      },
    );
  });
}
