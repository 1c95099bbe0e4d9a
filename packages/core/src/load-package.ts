import { CacheConfigError } from './errors.js';

/**
 * Loads a package the way this copy of core was loaded: `require` in the CommonJS build,
 * `import()` in the ESM build. A CommonJS app that imported a backend would get the backend's ESM
 * build and, through it, a second copy of core — and `error instanceof CacheError` would be false
 * for backend errors. `__filename` exists only in a CommonJS module (the ESM build is not shimmed;
 * `require` is, so it cannot tell the two apart).
 */
export async function loadPackage(name: string): Promise<unknown> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the point: see above
  if (typeof __filename === 'string') return require(name) as unknown;
  return (await import(name)) as unknown;
}

/** How {@link loadModule} loads and what it says when it cannot. */
export interface LoadModuleOptions {
  /** The loader (`loadBackendModule`); {@link loadPackage} when undefined. */
  readonly load?: ((packageName: string) => Promise<unknown>) | undefined;
  /** What needs the package, for the error (`redis://`, `CACHE_BUS_URL`). */
  readonly why: string;
}

/**
 * Loads an optional Stowage package by name, or rejects with a `CacheConfigError` that names the
 * package to install (when it is missing) or what went wrong loading it.
 */
export async function loadModule(packageName: string, options: LoadModuleOptions): Promise<object> {
  try {
    const module = await (options.load ?? loadPackage)(packageName);
    if (typeof module !== 'object' || module === null) {
      throw new Error(`it exported ${module === null ? 'null' : typeof module}`);
    }
    return module;
  } catch (error) {
    if (isMissingPackage(error, packageName)) {
      throw new CacheConfigError(
        `${options.why} needs the package ${packageName}; install it next to @stowage/core (npm install ${packageName})`,
        { cause: error },
      );
    }
    throw new CacheConfigError(`could not load ${packageName}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

function isMissingPackage(error: unknown, packageName: string): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return false;
  const message = String((error as { message?: unknown }).message);
  // Only the quoted name: a dependency missing *inside* the installed package mentions the
  // package in its path ("imported from …/@stowage/backend-redis/…") and is a different problem.
  return message.includes(`'${packageName}'`) || message.includes(`"${packageName}"`);
}
