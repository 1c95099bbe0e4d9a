// The messages between the delivery coordinator (process A, which writes) and its worker
// (process B, which reads until it sees the write), over the fork's IPC channel.

/** The subjects the delivery bound is measured for: the ones with a bus. */
export const DeliverySubject = {
  Stowage: 'stowage-redis-bus',
  Bento: 'bentocache-bus',
} as const;

/** One of {@link DeliverySubject}'s values. */
export type DeliverySubject = (typeof DeliverySubject)[keyof typeof DeliverySubject];

/** Coordinator → worker. */
export type ToWorker =
  | {
      readonly type: 'setup';
      readonly subject: DeliverySubject;
      readonly redis: { readonly host: string; readonly port: number };
      readonly key: string;
    }
  /** Read `key` until its value's `n` is this `n`. */
  | { readonly type: 'watch'; readonly n: number }
  | { readonly type: 'close' };

/** Worker → coordinator. */
export type FromWorker =
  | { readonly type: 'ready'; readonly bus: string }
  /** The first read of this watch is done (it saw the old value): the write may start. */
  | { readonly type: 'watching'; readonly n: number }
  /** A read saw `n`, at epoch milliseconds `at` (sub-millisecond), after `reads` reads. */
  | { readonly type: 'seen'; readonly n: number; readonly at: number; readonly reads: number }
  | { readonly type: 'error'; readonly message: string };

/** Epoch milliseconds with sub-millisecond precision, comparable between processes of one machine. */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

/** The value written for sample `n`: about 100 bytes of JSON, like the other scenarios. */
export function deliveryValue(n: number): { n: number; pad: string } {
  return { n, pad: 'x'.repeat(80) };
}
