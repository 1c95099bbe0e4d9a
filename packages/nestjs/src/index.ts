export type {
  StowageModuleAsyncOptions,
  StowageModuleOptions,
  StowageRegistration,
  StowageRequestScope,
  StowageScopeResolver,
} from './options.js';
export type { StowageMiddleware } from './scope-middleware.js';
export { StowageModule } from './stowage-module.js';
export { InjectCache, STOWAGE_CLIENT } from './tokens.js';
