export { createBusFromUrl, createRedisBus, REDIS_BUS_NAME, RedisBus } from './redis-bus.js';
export { DEFAULT_CHANNEL, parseBusUrl } from './bus-options.js';
export type { DuplicableRedis, RedisBusOptions } from './bus-options.js';
export {
  decodeMessage,
  encodeMessage,
  MalformedFrameError,
  MAX_SOURCE_LENGTH,
  WIRE_VERSION,
} from './wire-format.js';
