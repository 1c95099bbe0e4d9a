export { instrumentStowage, INSTRUMENTATION_SCOPE } from './instrument.js';
export type { StowageInstrumentation, StowageInstrumentationOptions } from './instrument.js';
export { DURATION_BUCKETS_SECONDS, STOWAGE_ATTRIBUTES, STOWAGE_METRICS } from './semconv.js';
export { INSTRUMENTED_OPERATIONS } from './trace-context.js';
export type { InstrumentedOperation } from './trace-context.js';
