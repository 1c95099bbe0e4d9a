import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findBinary, freePort, startRedis, type ServerHandle } from './servers.js';

/** Options of {@link startRedisCluster}. */
export interface RedisClusterOptions {
  /** Number of master nodes (no replicas). @default 3 */
  readonly nodes?: number;
  /**
   * `cluster-node-timeout`, in milliseconds: how long before the others mark a dead node as
   * failed. @default 2000
   */
  readonly nodeTimeoutMs?: number;
  /**
   * `cluster-require-full-coverage`: with `false` (the default here) the other nodes keep
   * serving their slots while one is down, as a cache deployment wants.
   * @default false
   */
  readonly requireFullCoverage?: boolean;
}

/** A local Redis Cluster the harness started. */
export interface RedisClusterHandle {
  /** One handle per node, in slot order (node 0 owns the lowest slots); each can pause/kill/restart. */
  readonly nodes: readonly ServerHandle[];
  /** `[{ host, port }]` of every node, for ioredis's `Cluster`. */
  readonly seeds: ReadonlyArray<{ host: string; port: number }>;
  /** Stops every node and removes their working directories; idempotent. */
  stop(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function run(binary: string, args: readonly string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => {
      if (child.pid !== undefined) child.kill('SIGKILL');
      reject(new Error(`${binary} ${args.join(' ')} did not finish in ${timeoutMs} ms: ${output}`));
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else reject(new Error(`${binary} ${args.join(' ')} exited with ${code}: ${output}`));
    });
  });
}

/**
 * Starts a Redis Cluster on 127.0.0.1: `nodes` `redis-server --cluster-enabled yes` processes on
 * free ports, each in its own temporary directory (for `nodes.conf`), joined with
 * `redis-cli --cluster create … --cluster-replicas 0 --cluster-yes`, and waits until every node
 * reports `cluster_state:ok`. Every process is tracked by PID like `startRedis`; stop them with
 * `handle.stop()`.
 */
export async function startRedisCluster(
  options: RedisClusterOptions = {},
): Promise<RedisClusterHandle> {
  const cli = findBinary('redis-cli');
  if (cli === undefined)
    throw new Error('redis-cli is not installed (apt-get install redis-tools)');
  const count = options.nodes ?? 3;
  if (!Number.isInteger(count) || count < 3)
    throw new Error('a Redis Cluster needs at least 3 masters');
  const nodeTimeout = options.nodeTimeoutMs ?? 2000;
  const coverage = options.requireFullCoverage === true ? 'yes' : 'no';
  const dirs: string[] = [];
  const nodes: ServerHandle[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((node) => node.stop()));
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < count; i++) {
      const dir = mkdtempSync(join(tmpdir(), 'stowage-cluster-'));
      dirs.push(dir);
      const port = await freePort();
      nodes.push(
        await startRedis({
          port,
          dir,
          args: [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            'nodes.conf',
            '--cluster-node-timeout',
            String(nodeTimeout),
            '--cluster-require-full-coverage',
            coverage,
          ],
        }),
      );
    }
    await run(
      cli,
      [
        '--cluster',
        'create',
        ...nodes.map((node) => node.address),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ],
      30_000,
    );
    const deadline = Date.now() + 20_000;
    for (const node of nodes) {
      for (;;) {
        const info = await run(
          cli,
          ['-h', node.host, '-p', String(node.port), 'cluster', 'info'],
          5000,
        );
        if (info.includes('cluster_state:ok')) break;
        if (Date.now() > deadline) throw new Error(`cluster did not become ok: ${info}`);
        await sleep(100);
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    nodes,
    seeds: nodes.map((node) => ({ host: node.host, port: node.port })),
    stop,
  };
}
