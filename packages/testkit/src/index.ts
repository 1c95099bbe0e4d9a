export { FaultProxy } from './fault-proxy.js';
export type { FaultMode, FaultScope } from './fault-proxy.js';
export { startRedisCluster } from './redis-cluster.js';
export type { RedisClusterHandle, RedisClusterOptions } from './redis-cluster.js';
export {
  findBinary,
  freePort,
  hasBinary,
  probe,
  serversRequired,
  startMemcached,
  startRedis,
} from './servers.js';
export type { MemcachedOptions, RedisOptions, ServerHandle } from './servers.js';
export { checkLateWrite, lateWriteScenario, lateWriteViolations } from './late-write.js';
export type {
  ClosableScenarioClient,
  LateWriteObservations,
  LateWriteScenarioOptions,
  ScenarioClient,
} from './late-write.js';
export { contractError, VALUE_ERROR } from './backend-shape.js';
export type { Answer, Entry, Warning, Write } from './backend-shape.js';
export { FaultBackend, refusedError } from './fault-backend.js';
export type { BackendFaultMode, WrappableBackend } from './fault-backend.js';
export { RecordingBackend } from './recording-backend.js';
export type { BackendCall, RecordingBackendOptions } from './recording-backend.js';
