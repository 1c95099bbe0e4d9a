/**
 * The parts of an ioredis (5, 6) or iovalkey client the backend uses, so either works and a
 * client the application owns can be passed in.
 */

/** An argument of a Redis command. */
export type RedisArg = string | Buffer | number;

/** The part of an ioredis pipeline the backend uses. */
export interface RedisPipelineLike {
  /** Queues a command whose bulk replies come back as `Buffer`s. */
  callBuffer(...args: [command: string, ...args: RedisArg[]]): unknown;
  /** Sends the queued commands in one write; resolves `[error, reply]` per command. */
  exec(): Promise<Array<[error: Error | null, reply: unknown]> | null>;
}

/**
 * The part of an ioredis client the backend uses. ioredis 5 and 6 `Redis` and `Cluster`
 * instances (also when configured for Sentinel) and iovalkey's match it.
 */
export interface RedisClientLike {
  /** ioredis's connection status: `wait`, `connecting`, `connect`, `ready`, `reconnecting`, `close`, `end`, … */
  readonly status: string;
  /** The options the client was created with (checked for `keyPrefix` and `commandTimeout`). */
  readonly options: object;
  /** `true` for a `Cluster`. */
  readonly isCluster?: boolean;
  /** Sends a command; bulk replies come back as `Buffer`s. */
  callBuffer(...args: [command: string, ...args: RedisArg[]]): Promise<unknown>;
  /** Starts a pipeline. */
  pipeline(): RedisPipelineLike;
  /** Opens the connection (lazy clients). */
  connect(): Promise<unknown>;
  /** Closes the connection at once. */
  disconnect(reconnect?: boolean): void;
  /** Closes the connection after pending replies. */
  quit(): Promise<unknown>;
  /** Subscribes to a client event (`ready`, `close`, `end`, `error`). */
  on(event: string, listener: (error: Error) => void): unknown;
  /** Unsubscribes from a client event. */
  removeListener(event: string, listener: (error: Error) => void): unknown;
  /** Cluster only: the node connections of a role. */
  nodes?(role?: 'master' | 'slave' | 'all'): RedisClientLike[];
  /**
   * Cluster only: ioredis's slot map, the `host:port` of the nodes serving each hash slot, master
   * first. Read to say which node a failed part of a batch was on.
   */
  readonly slots?: ReadonlyArray<readonly string[] | undefined>;
  /** The socket ioredis writes commands to (set once it connects; a Cluster's nodes have one each). */
  readonly stream?: CorkableStream | undefined;
}

/**
 * The part of a socket the backend uses: to send the commands of one event-loop turn in one write, and to
 * drop a connection whose reply stream can no longer be trusted.
 */
export interface CorkableStream {
  /** Buffers writes until `uncork()`. */
  cork(): void;
  /** Sends the buffered writes (in one `writev`). */
  uncork(): void;
  /** Closes the socket at once, reading nothing more (ioredis then reconnects). */
  destroy?(): void;
}
