import { connect } from 'node:net';

/** Options of {@link memcachedText}. */
export interface TextRequestOptions {
  /** Gives up after this many milliseconds. */
  readonly timeoutMs: number;
  /** True once the reply is complete (e.g. ends with `END\r\n`). */
  readonly complete: (reply: string) => boolean;
}

/** `host:port` or `[v6]:port` to its parts (memcached's default port when none is given). */
function splitAddress(address: string): { readonly host: string; readonly port: number } {
  const match = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(address);
  return { host: match?.[1] ?? address, port: Number(match?.[2] ?? 11211) };
}

/**
 * Sends one command of memcached's text protocol (`stats`, `mg <key> b t`) to `address` on its
 * own connection and resolves the reply. memjs, under the backend, speaks the binary protocol,
 * which has neither meta commands nor a TTL read; an admin tool can afford a connection per call.
 * Rejects on a connection error, a server `ERROR`, or no complete reply within `timeoutMs`.
 */
export function memcachedText(
  address: string,
  command: string,
  options: TextRequestOptions,
): Promise<string> {
  const { host, port } = splitAddress(address);
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let reply = '';
    const fail = (error: Error): void => {
      socket.destroy();
      reject(error);
    };
    const timer = setTimeout(() => {
      fail(
        new Error(
          `memcached ${address} did not answer '${command.split(' ')[0] ?? ''}' within ${options.timeoutMs} ms`,
        ),
      );
    }, options.timeoutMs);
    socket.setEncoding('latin1');
    socket.on('connect', () => socket.write(`${command}\r\n`));
    socket.on('data', (chunk: string) => {
      reply += chunk;
      if (/^(?:ERROR|CLIENT_ERROR|SERVER_ERROR)\b/m.test(reply)) {
        clearTimeout(timer);
        fail(
          new Error(
            `memcached ${address} refused '${command.split(' ')[0] ?? ''}': ${reply.trim()}`,
          ),
        );
      } else if (options.complete(reply)) {
        clearTimeout(timer);
        socket.end();
        resolve(reply);
      }
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      fail(new Error(`memcached ${address}: ${error.message}`));
    });
  });
}
