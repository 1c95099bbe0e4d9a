import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';

/** True when a missing server binary must fail the run instead of skipping (CI, or asked for). */
export function serversRequired(): boolean {
  return process.env['CI'] === 'true' || process.env['STOWAGE_REQUIRE_SERVERS'] === '1';
}

/**
 * Finds a server binary: the environment variable override, then the usual Debian paths, then
 * `PATH`. Returns `undefined` when it is not installed.
 */
export function findBinary(name: 'memcached' | 'redis-server' | 'redis-cli'): string | undefined {
  const override = process.env[`${name.replace('-', '_').toUpperCase()}_BIN`];
  if (override !== undefined && override !== '') return override;
  for (const candidate of [`/usr/bin/${name}`, `/usr/local/bin/${name}`, `/usr/sbin/${name}`]) {
    if (existsSync(candidate)) return candidate;
  }
  const which = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const found = which.stdout.trim();
  return which.status === 0 && found !== '' ? found : undefined;
}

/**
 * Whether tests that need `name` can run here. When servers are required (CI) and the binary is
 * missing, this throws, so the suite fails instead of silently skipping.
 */
export function hasBinary(name: 'memcached' | 'redis-server' | 'redis-cli'): boolean {
  const found = findBinary(name) !== undefined;
  if (!found && serversRequired()) {
    throw new Error(
      `${name} is not installed, and CI=true requires real servers (apt-get install ${name === 'redis-cli' ? 'redis-tools' : name})`,
    );
  }
  return found;
}

/** A free TCP port on 127.0.0.1 (the kernel picks it; the listener is closed before returning). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('no port'));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Sends `request` to 127.0.0.1:`port` and resolves true when the reply (read as latin1) contains
 * `expect`.
 */
export async function probe(
  port: number,
  request: string | Uint8Array,
  expect: string,
  timeoutMs = 500,
): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on('connect', () => socket.write(request));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      if (reply.includes(expect)) done(true);
    });
    socket.on('error', () => done(false));
    socket.on('close', () => done(reply.includes(expect)));
  });
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Never leave a server behind, even when a test run crashes: kill by PID (never by name).
  process.on('exit', () => {
    for (const child of running) {
      if (child.pid === undefined) continue;
      try {
        process.kill(child.pid, 'SIGCONT');
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

/** A server process the harness started on 127.0.0.1. */
export interface ServerHandle {
  /** Always `127.0.0.1`. */
  readonly host: string;
  /** The port it listens on (kept across restarts). */
  readonly port: number;
  /** PID of the current process; changes after `restart()`. */
  readonly pid: number;
  /** `host:port`. */
  readonly address: string;
  /**
   * Freezes the server (SIGSTOP) and returns once every thread of it has stopped: the kernel still
   * accepts connections, nothing answers.
   */
  pause(): void;
  /** Thaws a paused server (SIGCONT). */
  resume(): void;
  /** Kills the server with SIGKILL (after SIGCONT, so a paused server dies too) and waits for exit. */
  kill(): Promise<void>;
  /** Starts the server again on the same port after `kill()` (or kills and restarts it). */
  restart(): Promise<void>;
  /** Stops the server for good; idempotent. */
  stop(): Promise<void>;
}

interface ServerSpec {
  readonly binary: string;
  readonly args: (port: number) => string[];
  readonly ready: (port: number) => Promise<boolean>;
  readonly name: string;
}

async function launch(spec: ServerSpec, port: number): Promise<ChildProcess> {
  const child = spawn(spec.binary, spec.args(port), { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  installExitHook();
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    if (await spec.ready(port)) return child;
    await sleep(20);
  }
  child.kill('SIGKILL');
  throw new Error(
    `${spec.name} did not start on 127.0.0.1:${port}: ${stderr.trim() || 'no output'}`,
  );
}

async function waitForExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => child.once('exit', () => resolve()));
}

/**
 * Waits (blocking, at most `timeoutMs`) until every thread of `pid` is stopped. `kill(SIGSTOP)`
 * returns once the signal is queued; on a loaded machine a server thread can still answer a
 * request sent right after it (a CI run saw a "frozen" memcached answer a ping). Linux only:
 * without `/proc`, or once the process is gone, it returns at once.
 */
function waitUntilStopped(pid: number, timeoutMs = 2000): void {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    let stopped = true;
    try {
      for (const task of readdirSync(`/proc/${pid}/task`)) {
        const stat = readFileSync(`/proc/${pid}/task/${task}/stat`, 'latin1');
        // The state follows the command name, which is in parentheses and may hold spaces.
        const state = stat.charAt(stat.lastIndexOf(')') + 2);
        if (state !== 'T' && state !== 't') {
          stopped = false;
          break;
        }
      }
    } catch {
      return;
    }
    if (stopped) return;
  }
}

async function startServer(spec: ServerSpec, requestedPort?: number): Promise<ServerHandle> {
  const port = requestedPort ?? (await freePort());
  let child = await launch(spec, port);
  let stopped = false;
  const signal = (name: NodeJS.Signals): void => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null)
      process.kill(child.pid, name);
  };
  const kill = async (): Promise<void> => {
    signal('SIGCONT');
    signal('SIGKILL');
    await waitForExit(child);
  };
  return {
    host: '127.0.0.1',
    port,
    get pid() {
      return child.pid ?? -1;
    },
    address: `127.0.0.1:${port}`,
    pause: () => {
      signal('SIGSTOP');
      if (child.pid !== undefined) waitUntilStopped(child.pid);
    },
    resume: () => signal('SIGCONT'),
    kill,
    async restart() {
      await kill();
      child = await launch(spec, port);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await kill();
    },
  };
}

/** Options of {@link startMemcached}. */
export interface MemcachedOptions {
  /** Port to use; a free one by default. */
  readonly port?: number;
  /** Extra arguments, e.g. `['-I', '2m']` or `['-B', 'ascii']`. */
  readonly args?: readonly string[];
  /**
   * How readiness is checked: `'text'` sends `version`; `'binary'` sends a binary-protocol
   * `noop` and accepts any binary answer (needed with `-S`, where memcached ignores the text
   * protocol until a client authenticated).
   * @default 'text'
   */
  readonly probe?: 'text' | 'binary';
}

// A binary-protocol noop request: magic 0x80, opcode 0x0a, everything else zero.
const BINARY_NOOP = Uint8Array.from({ length: 24 }, (_, i) =>
  i === 0 ? 0x80 : i === 1 ? 0x0a : 0,
);

/**
 * Starts `memcached -U 0 -l 127.0.0.1 -p <port>` (64 MB, no UDP) and waits until it answers
 * `version`. Stop it with `handle.stop()`.
 */
export async function startMemcached(options: MemcachedOptions = {}): Promise<ServerHandle> {
  const binary = findBinary('memcached');
  if (binary === undefined)
    throw new Error('memcached is not installed (apt-get install memcached)');
  const extra = options.args ?? [];
  return startServer(
    {
      name: 'memcached',
      binary,
      args: (port) => [
        // memcached refuses to run as root unless told which user to run as.
        ...(process.getuid?.() === 0 ? ['-u', 'root'] : []),
        ...['-U', '0', '-l', '127.0.0.1', '-p', String(port), '-m', '64', '-t', '2'],
        ...extra,
      ],
      ready: (port) =>
        options.probe === 'binary'
          ? probe(port, BINARY_NOOP, '\x81')
          : probe(port, 'version\r\n', 'VERSION'),
    },
    options.port,
  );
}

/** Options of {@link startRedis}. */
export interface RedisOptions {
  /** Port to use; a free one by default. */
  readonly port?: number;
  /** Extra arguments, e.g. `['--cluster-enabled', 'yes']`. */
  readonly args?: readonly string[];
  /** Working directory (cluster nodes need their own for `nodes.conf`). */
  readonly dir?: string;
  /**
   * A config file, passed first as redis-server requires (Sentinel needs one it can rewrite:
   * `{ configFile, args: ['--sentinel'] }`).
   */
  readonly configFile?: string;
}

/**
 * Starts `redis-server --bind 127.0.0.1 --port <port> --save '' --appendonly no` and waits until
 * it answers `PING`. Stop it with `handle.stop()`.
 */
export async function startRedis(options: RedisOptions = {}): Promise<ServerHandle> {
  const binary = findBinary('redis-server');
  if (binary === undefined)
    throw new Error('redis-server is not installed (apt-get install redis-server)');
  const extra = options.args ?? [];
  return startServer(
    {
      name: 'redis-server',
      binary,
      args: (port) => [
        ...(options.configFile === undefined ? [] : [options.configFile]),
        '--bind',
        '127.0.0.1',
        '--port',
        String(port),
        '--save',
        '',
        '--appendonly',
        'no',
        '--protected-mode',
        'no',
        ...(options.dir === undefined ? [] : ['--dir', options.dir]),
        ...extra,
      ],
      ready: (port) => probe(port, 'PING\r\n', '+PONG'),
    },
    options.port,
  );
}
