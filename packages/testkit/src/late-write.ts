import type { FaultProxy } from './fault-proxy.js';

/** The calls of one cache client the scenario drives (a `CacheClient` fits). */
export interface ScenarioClient {
  set(key: string, value: string, options?: { skipIntegrityCheck?: boolean }): Promise<boolean>;
  get(key: string): Promise<unknown>;
}

/** Options of {@link lateWriteScenario}. */
export interface LateWriteScenarioOptions {
  /** Process A: its client talks to the server through `proxy`, with a short deadline. */
  readonly a: ScenarioClient;
  /** Process B: its client talks to the server directly. */
  readonly b: ScenarioClient;
  /** The proxy in front of A's server. */
  readonly proxy: FaultProxy;
  /** The key both write. */
  readonly key: string;
  /** How long A's write is held in the proxy, in ms: longer than A's deadline. */
  readonly holdMs: number;
  /** A's quarantine window (`quarantineMs`), in ms. */
  readonly windowMs: number;
}

/** What each process read at each step of {@link lateWriteScenario}. */
export interface LateWriteObservations {
  /** Whether A's write of `v1` was rejected (it must time out). */
  readonly v1Rejected: boolean;
  /** What B read once v1 landed late (the server's value). */
  readonly serverAfterLateWrite: unknown;
  /** Whether A's write of `v2` and B's of `v3` were confirmed. */
  readonly v2Confirmed: boolean;
  readonly v3Confirmed: boolean;
  /** What A read during its window, while the server held B's newer `v3`. */
  readonly aDuringWindow: unknown;
  /** What B and A read once A's window had ended. */
  readonly bAfterWindow: unknown;
  readonly aAfterWindow: unknown;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The late write on a real server: process A's write `v1` times out but lands late; A then writes
 * `v2` (confirmed) and B writes the newer `v3`. Under the write model A must not read its own
 * older `v2` while the server holds `v3`, and when A's window ends `v3` must survive (the old
 * quarantine wrote `v2` back over it). Returns what each process saw; the test asserts.
 */
export async function lateWriteScenario(
  options: LateWriteScenarioOptions,
): Promise<LateWriteObservations> {
  const { a, b, proxy, key, holdMs, windowMs } = options;
  await a.set(key, 'v0');
  proxy.setMode({ kind: 'latency', ms: holdMs });
  const v1Rejected = await a.set(key, 'v1', { skipIntegrityCheck: true }).then(
    () => false,
    () => true,
  );
  proxy.setMode({ kind: 'pass' });
  // The held bytes keep flowing (a closed client does not take them back): wait until v1 lands.
  let serverAfterLateWrite: unknown;
  for (let waited = 0; waited < holdMs * 4 + 1000; waited += 25) {
    serverAfterLateWrite = await b.get(key);
    if (serverAfterLateWrite === 'v1') break;
    await sleep(25);
  }
  const v2Confirmed = await a.set(key, 'v2').catch(() => false);
  const v3Confirmed = await b.set(key, 'v3').catch(() => false);
  const aDuringWindow = await a.get(key).catch((error: unknown) => error);
  await sleep(windowMs * 2 + 300);
  const bAfterWindow = await b.get(key);
  const aAfterWindow = await a.get(key).catch((error: unknown) => error);
  return {
    v1Rejected,
    serverAfterLateWrite,
    v2Confirmed,
    v3Confirmed,
    aDuringWindow,
    bAfterWindow,
    aAfterWindow,
  };
}

/**
 * What {@link lateWriteScenario}'s observations break of the write model, one line each; `[]`
 * when they keep it. One list for every backend's test, so the rules live in one place.
 */
export function lateWriteViolations(seen: LateWriteObservations): string[] {
  const problems: string[] = [];
  const expect = (ok: boolean, what: string, got: unknown): void => {
    if (!ok) problems.push(`${what} (got ${JSON.stringify(got) ?? String(got)})`);
  };
  // The set-up: A's v1 timed out and landed late; A then confirmed v2, B the newer v3.
  expect(seen.v1Rejected, "A's write of v1 timed out", seen.v1Rejected);
  expect(seen.serverAfterLateWrite === 'v1', 'v1 landed late', seen.serverAfterLateWrite);
  expect(seen.v2Confirmed, "A's v2 was confirmed", seen.v2Confirmed);
  expect(seen.v3Confirmed, "B's v3 was confirmed", seen.v3Confirmed);
  // The promise: A cannot vouch for B's v3 during its window, so a miss, never its own older v2.
  expect(seen.aDuringWindow === undefined, 'A reads a miss in its window', seen.aDuringWindow);
  // The end of A's window deletes only its write in doubt: B's newer v3 survives for everyone.
  expect(seen.bAfterWindow === 'v3', 'B reads v3 after the window', seen.bAfterWindow);
  expect(seen.aAfterWindow === 'v3', 'A reads v3 after the window', seen.aAfterWindow);
  return problems;
}

/** A scenario client that can be closed (a `CacheClient`). */
export interface ClosableScenarioClient extends ScenarioClient {
  close(): Promise<void>;
}

/**
 * Runs {@link lateWriteScenario} on clients made for it and closes both whatever happens;
 * resolves the violations ({@link lateWriteViolations}), `[]` when the write model held. The one
 * way every backend's test drives the scenario.
 */
export async function checkLateWrite(
  options: LateWriteScenarioOptions & {
    readonly a: ClosableScenarioClient;
    readonly b: ClosableScenarioClient;
  },
): Promise<string[]> {
  try {
    return lateWriteViolations(await lateWriteScenario(options));
  } finally {
    await options.a.close();
    await options.b.close();
  }
}
