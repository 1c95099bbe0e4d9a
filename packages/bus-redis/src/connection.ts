/**
 * The part of an ioredis connection (5 or 6, or iovalkey) the bus uses. Typed here, not taken
 * from one ioredis major, so a client of either major can be duplicated.
 */
export interface BusConnection {
  readonly status: string;
  connect(): Promise<unknown>;
  /** With `reconnect: true`, drops the socket and lets the retry strategy open a new one. */
  disconnect(reconnect?: boolean): void;
  quit(): Promise<unknown>;
  subscribe(channel: string): Promise<unknown>;
  publish(channel: string, message: string): Promise<unknown>;
  ping(): Promise<unknown>;
  on(event: string, listener: (...args: never[]) => void): unknown;
  removeListener(event: string, listener: (...args: never[]) => void): unknown;
}

/** A rejection nobody waits for (its failure reaches the bus through the connection's events). */
export function ignore(): void {
  // deliberately empty
}

/** Settles after `ms` (unref'd: it never keeps a process alive). */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/**
 * Closes a connection within `ms`: QUIT when it is up (the server sees a clean goodbye), then a
 * hard disconnect whatever happened, so a frozen server cannot hold `close()` open.
 */
export async function quitWithin(connection: BusConnection, ms: number): Promise<void> {
  if (connection.status === 'ready') {
    await Promise.race([connection.quit().catch(ignore), delay(ms)]);
  }
  connection.disconnect(false);
}

/** `error` as an Error (ioredis always emits Errors; anything else is wrapped). */
export function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
