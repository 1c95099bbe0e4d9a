/** The connection and scope flags, as every command's `--help` lists them. */
export const CONNECTION_HELP = `Connection (flags override the environment):
  --url URL              cache URL; env CACHE_URL (memcached://h1:11211,h2:11211, redis://…,
                         rediss://…). Required.
  --prefix PREFIX        key prefix of the service; env CACHE_PREFIX
  --encryption-key KEY   passphrase the service encrypts with; env CACHE_ENCRYPTION_KEY
                         (prefer the variable: flags show up in process lists)
  --local-path PATH      shared recent-keys file; env CACHE_LOCAL_PATH
  --timeout MS           per-call deadline in milliseconds; env CACHE_TIMEOUT_MS, default 1000
  -h, --help             this help`;

/** The scope flags of the commands that address keys. */
export const SCOPE_HELP = `Scope (the key as a scoped client sees it):
  --level LEVEL          service, stack or session
  --scope ID             the service name, tenant (stack) or session id of --level
  --stack ID             with --level session: the tenant the session belongs to`;

/** The exit codes, as every `--help` ends. */
export const EXIT_HELP = `Exit codes: 0 ok, 1 error (server, configuration), 2 usage, 3 key not found (get, inspect).`;
