// The parent's side of the workers: forks them, sends commands, collects replies and the
// `started` events of factory runs. Workers are stopped by their own PID, never by name.
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type {
  BackendSpec,
  CallsReply,
  Command,
  ReadReply,
  StatsReply,
  WorkerConfig,
  WorkerMessage,
} from '../src/protocol.js';

const WORKER = new URL('../dist/worker.mjs', import.meta.url).pathname;

/** A command as the tests write it: the id is added when it is sent. */
type Unsent<C> = C extends Command ? Omit<C, 'id'> : never;

/** A `getOrSet` or `cached` command as the tests write it. */
export type CallsCommand = Unsent<Command & { op: 'getOrSet' | 'cached' }>;

/** A command on its way: its id (for `release` and `started`) and its reply. */
export interface Pending<R> {
  readonly id: number;
  readonly reply: Promise<R>;
}

let nextId = 1;

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls `check` every 10 ms until it returns true; rejects with `what` after `timeoutMs`, so a
 * test that waits for something that never happens fails by name instead of by vitest's timeout.
 */
export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** One forked worker process. */
export class Worker {
  readonly name: string;
  readonly #child: ChildProcess;
  readonly #waiting = new Map<
    number,
    { resolve: (reply: unknown) => void; reject: (error: Error) => void }
  >();
  /** Run ids of the factory runs each command started, as their `started` events arrive. */
  readonly #started = new Map<number, string[]>();
  readonly #exited: Promise<NodeJS.Signals | number | null>;

  private constructor(name: string, child: ChildProcess) {
    this.name = name;
    this.#child = child;
    this.#exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        for (const { reject } of this.#waiting.values())
          reject(new Error(`worker ${name} exited (${signal ?? code}) before replying`));
        this.#waiting.clear();
        resolve(signal ?? code);
      }),
    );
    child.on('message', (message: WorkerMessage) => this.#received(message));
  }

  /** Forks a worker and resolves once its process is up and listening for commands. */
  static async start(name: string, backend: BackendSpec, prefix: string): Promise<Worker> {
    if (!existsSync(WORKER)) {
      throw new Error(
        `${WORKER} is missing: build the package first (npx --yes pnpm@10.34.9 --filter @stowage/e2e build)`,
      );
    }
    const config: WorkerConfig = { name, backend, prefix, service: 'e2e' };
    const child = fork(WORKER, [JSON.stringify(config)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const ready = new Promise<void>((resolve, reject) => {
      child.once('message', (message: WorkerMessage) => {
        if (message.type === 'ready') resolve();
        else reject(new Error(`worker ${name} sent ${message.type} before ready`));
      });
      child.once('exit', (code, signal) =>
        reject(new Error(`worker ${name} exited (${signal ?? code}) while starting`)),
      );
    });
    const worker = new Worker(name, child);
    await ready;
    return worker;
  }

  get pid(): number {
    return this.#child.pid ?? -1;
  }

  #received(message: WorkerMessage): void {
    switch (message.type) {
      case 'ready':
        return;
      case 'started': {
        const runs = this.#started.get(message.command) ?? [];
        runs.push(message.run);
        this.#started.set(message.command, runs);
        return;
      }
      case 'reply':
        this.#waiting.get(message.command)?.resolve(message.reply);
        this.#waiting.delete(message.command);
        return;
      case 'failed':
        this.#waiting
          .get(message.command)
          ?.reject(new Error(`worker ${this.name}: ${message.error}`));
        this.#waiting.delete(message.command);
        return;
    }
  }

  /** Sends a command; the reply resolves when the worker answers. */
  send<R>(command: Unsent<Command>): Pending<R> {
    const id = nextId++;
    const reply = new Promise<R>((resolve, reject) => {
      this.#waiting.set(id, { resolve: resolve as (reply: unknown) => void, reject });
    });
    this.#child.send({ ...command, id });
    return { id, reply };
  }

  /** `getOrSet`/`cached` commands: a pending reply of their calls. */
  calls(command: CallsCommand): Pending<CallsReply> {
    return this.send<CallsReply>(command);
  }

  read(keys: readonly string[]): Promise<ReadReply> {
    return this.send<ReadReply>({ op: 'read', keys }).reply;
  }

  stats(client?: Command['client']): Promise<StatsReply> {
    return this.send<StatsReply>({ op: 'stats', ...(client === undefined ? {} : { client }) })
      .reply;
  }

  /** Run ids of the factory runs command `id` started so far (as reported). */
  started(id: number): readonly string[] {
    return this.#started.get(id) ?? [];
  }

  /** Waits until command `id` reported `count` factory runs. */
  async waitStarted(id: number, count = 1, timeoutMs = 5000): Promise<void> {
    await until(
      `${count} factory run(s) of command ${id} in worker ${this.name}`,
      () => this.started(id).length >= count,
      timeoutMs,
    );
  }

  /** Lets the gated factories of command `id` finish. */
  release(id: number): void {
    this.#child.send({ op: 'release', target: id });
  }

  /** SIGKILL, by PID: the process dies mid-whatever, as a crashed pod does. */
  async kill(): Promise<NodeJS.Signals | number | null> {
    if (this.#child.exitCode === null && this.#child.signalCode === null)
      process.kill(this.pid, 'SIGKILL');
    return this.#exited;
  }

  /** Closes the worker's clients and lets it exit; kills it when it does not within 5 s. */
  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    const timer = setTimeout(() => void this.kill(), 5000);
    try {
      await this.send({ op: 'close' }).reply.catch(() => undefined);
      await this.#exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Starts `count` workers in parallel, named `<prefix>0…`. */
export async function startWorkers(
  count: number,
  backend: BackendSpec,
  options: { readonly prefix: string; readonly label: string },
): Promise<Worker[]> {
  return Promise.all(
    Array.from({ length: count }, (_, i) =>
      Worker.start(`${options.label}${i}`, backend, options.prefix),
    ),
  );
}
