// The fault-injecting wrapper lives in @stowage/testkit (the decorator's tests use it too); this
// adds what needs core's runtime: a client on one over a recording backend.
import { FaultBackend, RecordingBackend, type RecordingBackendOptions } from '@stowage/testkit';
import { CacheClient, type CacheClientOptions } from '../../src/index.js';

export { FaultBackend };
export type { BackendFaultMode as FaultMode } from '@stowage/testkit';

/** A client on a {@link FaultBackend} over a recording backend. */
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
