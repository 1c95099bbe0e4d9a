// The recording backend lives in @stowage/testkit (shared with the other packages' tests); this
// adds what needs core's runtime: a client on one.
import { RecordingBackend, type RecordingBackendOptions } from '@stowage/testkit';
import { CacheClient, type CacheClientOptions } from '../../src/index.js';

export { RecordingBackend };
export type { BackendCall, RecordingBackendOptions } from '@stowage/testkit';

/** A client on a fresh {@link RecordingBackend}. */
export function recordingClient<T = unknown>(
  options: Omit<CacheClientOptions<T>, 'backend'> = {},
  backendOptions: RecordingBackendOptions = {},
): { client: CacheClient<T>; backend: RecordingBackend } {
  const backend = new RecordingBackend(backendOptions);
  return { client: new CacheClient<T>({ ...options, backend }), backend };
}
