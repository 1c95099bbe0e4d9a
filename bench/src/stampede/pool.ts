import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { FromWorker, Request, ToWorker } from './protocol.js';

interface Pending {
  /** The worker that owes the reply. */
  readonly worker: number;
  readonly resolve: (reply: FromWorker) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * The stampede's worker processes, forked from `dist/stampede-worker.mjs`: requests go out over
 * IPC and resolve with the worker's reply of the same id. A worker that exits, or does not answer
 * within `timeoutMs`, rejects what it owed; `stop()` ends the workers this pool forked, by their
 * own handles.
 */
export class WorkerPool {
  readonly #children: ChildProcess[];
  readonly #pending = new Map<number, Pending>();
  readonly #timeoutMs: number;
  #nextId = 1;

  private constructor(children: ChildProcess[], timeoutMs: number) {
    this.#children = children;
    this.#timeoutMs = timeoutMs;
    children.forEach((child, index) => {
      child.on('message', (reply: FromWorker) => this.#settle(reply));
      child.on('exit', (code, signal) => {
        for (const [id, pending] of this.#pending) {
          if (pending.worker !== index) continue;
          clearTimeout(pending.timer);
          this.#pending.delete(id);
          pending.reject(new Error(`stampede worker ${index} exited (${signal ?? code})`));
        }
      });
    });
  }

  /** Forks `count` workers from `path` (a built `stampede-worker.mjs`). */
  static start(path: string, count: number, timeoutMs = 30_000): WorkerPool {
    if (!existsSync(path)) {
      throw new Error(`${path} is missing: build the bench first (cd bench && npx tsdown)`);
    }
    const children = Array.from({ length: count }, () =>
      fork(path, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
    );
    return new WorkerPool(children, timeoutMs);
  }

  /** How many workers the pool has. */
  get size(): number {
    return this.#children.length;
  }

  /** Sends `request` to worker `index`; resolves its reply, rejects on an `error` reply. */
  request(index: number, request: Request): Promise<FromWorker> {
    const child = this.#children[index];
    if (child === undefined) return Promise.reject(new Error(`no stampede worker ${index}`));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`stampede worker ${index} did not answer '${request.type}' in time`));
      }, this.#timeoutMs);
      this.#pending.set(id, { worker: index, resolve, reject, timer });
      const message: ToWorker = { ...request, id };
      child.send(message);
    });
  }

  /** Sends `request` to every worker at once; resolves their replies in worker order. */
  all(request: Request): Promise<FromWorker[]> {
    return Promise.all(this.#children.map((_, index) => this.request(index, request)));
  }

  /** Asks every worker to tear down and exit; kills (SIGKILL) any still running after 5 s. */
  async stop(): Promise<void> {
    const running = this.#children.flatMap((child, index) =>
      child.exitCode === null && child.signalCode === null ? [{ child, index }] : [],
    );
    const exited = running.map(
      ({ child }) => new Promise<void>((resolve) => child.once('exit', () => resolve())),
    );
    // A worker exits right after answering; one stuck in a teardown is killed after 5 s.
    const answered = Promise.allSettled(
      running.map(({ index }) => this.request(index, { type: 'stop' })),
    );
    const timer = setTimeout(() => {
      for (const { child } of running) if (child.exitCode === null) child.kill('SIGKILL');
    }, 5000);
    await Promise.all([answered, ...exited]);
    clearTimeout(timer);
  }

  #settle(reply: FromWorker): void {
    const pending = this.#pending.get(reply.id);
    if (pending === undefined) return;
    this.#pending.delete(reply.id);
    clearTimeout(pending.timer);
    if (reply.type === 'error') pending.reject(new Error(reply.error));
    else pending.resolve(reply);
  }
}
