// Clients on testkit's test backends. The backends live in @stowage/testkit (the decorator's tests
// share them) and cannot build a CacheClient themselves: testkit must not depend on core, whose
// tests depend on testkit. What needs core's runtime stays here.
import { FaultBackend, RecordingBackend, type RecordingBackendOptions } from '@stowage/testkit';
import { CacheClient, type CacheClientOptions } from '../../src/index.js';

/** A client on a fresh {@link RecordingBackend}. */
export function recordingClient<T = unknown>(
  options: Omit<CacheClientOptions<T>, 'backend'> = {},
  backendOptions: RecordingBackendOptions = {},
): { client: CacheClient<T>; backend: RecordingBackend } {
  const backend = new RecordingBackend(backendOptions);
  return { client: new CacheClient<T>({ ...options, backend }), backend };
}

/** A client on a {@link FaultBackend} over a fresh {@link RecordingBackend} (`inner`). */
export function faultClient(
  options: Omit<CacheClientOptions, 'backend'> = {},
  backendOptions: RecordingBackendOptions = {},
): {
  client: CacheClient;
  backend: FaultBackend<RecordingBackend>;
  inner: RecordingBackend;
} {
  const inner = new RecordingBackend(backendOptions);
  const backend = new FaultBackend(inner);
  return { client: new CacheClient({ ...options, backend }), backend, inner };
}
