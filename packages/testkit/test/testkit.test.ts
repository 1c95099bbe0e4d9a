import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultProxy, hasBinary, probe, startMemcached, startRedis } from '../src/index.js';

/** Echo server that answers every chunk with its bytes. */
async function echoServer(): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => socket.pipe(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { server, port: typeof address === 'object' && address !== null ? address.port : 0 };
}

function connect(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.once('error', reject);
  });
}

function roundTrip(
  socket: Socket,
  text: string,
  timeoutMs = 2000,
): Promise<{ reply: string; ms: number; closed: boolean }> {
  return new Promise((resolve) => {
    const started = Date.now();
    let reply = '';
    let closed = false;
    const finish = (): void => {
      clearTimeout(timer);
      socket.removeAllListeners('data');
      resolve({ reply, ms: Date.now() - started, closed });
    };
    const timer = setTimeout(finish, timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString();
      if (reply.length >= text.length) finish();
    });
    socket.once('end', () => {
      closed = true;
      finish();
    });
    socket.write(text);
  });
}

describe('FaultProxy', () => {
  let echo: { server: Server; port: number };
  beforeAll(async () => {
    echo = await echoServer();
  });
  afterAll(() => {
    echo.server.close();
  });

  it('passes bytes through in pass mode', async () => {
    const proxy = await FaultProxy.start(echo.port);
    const socket = await connect(proxy.port);
    expect((await roundTrip(socket, 'hello')).reply).toBe('hello');
    socket.destroy();
    await proxy.close();
  });

  it('delays each direction in latency mode', async () => {
    const proxy = await FaultProxy.start(echo.port);
    proxy.setMode({ kind: 'latency', ms: 100 });
    const socket = await connect(proxy.port);
    const result = await roundTrip(socket, 'slow');
    expect(result.reply).toBe('slow');
    expect(result.ms).toBeGreaterThanOrEqual(190);
    socket.destroy();
    await proxy.close();
  });

  it('never answers in blackhole mode', async () => {
    const proxy = await FaultProxy.start(echo.port);
    proxy.setMode({ kind: 'blackhole' });
    const socket = await connect(proxy.port);
    const result = await roundTrip(socket, 'void', 300);
    expect(result.reply).toBe('');
    socket.destroy();
    await proxy.close();
  });

  it('cuts a response after N bytes and closes with FIN', async () => {
    const proxy = await FaultProxy.start(echo.port);
    proxy.setMode({ kind: 'cut', bytes: 3 });
    const socket = await connect(proxy.port);
    const result = await roundTrip(socket, 'abcdef');
    expect(result.reply).toBe('abc');
    expect(result.closed).toBe(true);
    await proxy.close();
  });

  it('drops and inserts response bytes once in tamper mode, then passes bytes unchanged', async () => {
    const proxy = await FaultProxy.start(echo.port);
    proxy.setMode({ kind: 'tamper', offset: 2, drop: 3, insert: Buffer.from('XY') });
    const socket = await connect(proxy.port);
    const first = await roundTrip(socket, 'abcdefgh');
    expect(first.reply).toBe('abXYfgh');
    const second = await roundTrip(socket, 'abcdefgh');
    expect(second.reply).toBe('abcdefgh');
    socket.destroy();
    await proxy.close();
  });

  it('changes one byte in place in tamper mode (drop 1, insert 1)', async () => {
    const proxy = await FaultProxy.start(echo.port);
    proxy.setMode({ kind: 'tamper', offset: 4, drop: 1, insert: Buffer.from('!') });
    const socket = await connect(proxy.port);
    expect((await roundTrip(socket, 'abcdefgh')).reply).toBe('abcd!fgh');
    socket.destroy();
    await proxy.close();
  });

  it('cuts a response after N bytes and resets with RST when asked', async () => {
    const proxy = await FaultProxy.start(echo.port);
    proxy.setMode({ kind: 'cut', bytes: 3, reset: true });
    const socket = await connect(proxy.port);
    let reply = '';
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString();
    });
    const error = new Promise<NodeJS.ErrnoException>((resolve) => socket.once('error', resolve));
    socket.write('abcdef');
    expect((await error).code).toBe('ECONNRESET');
    expect(reply).toBe('abc');
    await proxy.close();
  });

  it('refuses new connections after refuse() and accepts again on the same port', async () => {
    const proxy = await FaultProxy.start(echo.port);
    const port = proxy.port;
    await proxy.refuse();
    await expect(connect(port)).rejects.toThrow(/ECONNREFUSED/);
    await proxy.accept();
    expect(proxy.port).toBe(port);
    const socket = await connect(port);
    expect((await roundTrip(socket, 'back')).reply).toBe('back');
    socket.destroy();
    await proxy.close();
  });

  it('resets connections with RST', async () => {
    const proxy = await FaultProxy.start(echo.port);
    const socket = await connect(proxy.port);
    const error = new Promise<NodeJS.ErrnoException>((resolve) => socket.once('error', resolve));
    await new Promise((resolve) => setTimeout(resolve, 20));
    proxy.resetAll();
    expect((await error).code).toBe('ECONNRESET');
    await proxy.close();
  });
});

describe.runIf(hasBinary('memcached'))('memcached harness', () => {
  it(
    'starts, pauses, restarts and stops a real memcached by PID',
    { timeout: 20_000 },
    async () => {
      const server = await startMemcached();
      expect(await probe(server.port, 'version\r\n', 'VERSION')).toBe(true);
      server.pause();
      expect(await probe(server.port, 'version\r\n', 'VERSION', 300)).toBe(false);
      server.resume();
      expect(await probe(server.port, 'version\r\n', 'VERSION')).toBe(true);
      const firstPid = server.pid;
      await server.restart();
      expect(server.pid).not.toBe(firstPid);
      expect(await probe(server.port, 'version\r\n', 'VERSION')).toBe(true);
      await server.stop();
      expect(await probe(server.port, 'version\r\n', 'VERSION', 300)).toBe(false);
    },
  );
});

describe.runIf(hasBinary('redis-server'))('redis harness', () => {
  it('starts and stops a real redis-server by PID', { timeout: 20_000 }, async () => {
    const server = await startRedis();
    expect(await probe(server.port, 'PING\r\n', '+PONG')).toBe(true);
    await server.stop();
    expect(await probe(server.port, 'PING\r\n', '+PONG', 300)).toBe(false);
  });
});
