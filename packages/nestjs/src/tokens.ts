import { Inject } from '@nestjs/common';

/**
 * The injection token of the root `CacheClient` that `StowageModule` provides. A string, not a
 * symbol, so an app that loads both the ESM and the CommonJS build still finds one provider.
 *
 * @example
 * constructor(@Inject(STOWAGE_CLIENT) private readonly cache: CacheClient) {}
 */
export const STOWAGE_CLIENT = '@stowage/nestjs:client' as const;

/**
 * Injects the root `CacheClient` that `StowageModule` provides: shorthand for
 * `@Inject(STOWAGE_CLIENT)` on a constructor parameter or a property.
 *
 * @example
 * constructor(@InjectCache() private readonly cache: CacheClient) {}
 */
export function InjectCache(): PropertyDecorator & ParameterDecorator {
  return Inject(STOWAGE_CLIENT);
}

/** Internal: what the module resolved from its options (the client, who owns it, the resolver). */
export const STOWAGE_SETUP = '@stowage/nestjs:setup' as const;
