// Fernet interop, checked against Python's `cryptography` package in a child process: items
// written by Node decrypt in Python and the other way round, with the SHA-256 passphrase
// derivation and Q2's layer order (JSON → Fernet → zlib when compressing).
import { describe, expect, it } from 'vitest';
import {
  CacheClient,
  CacheConfigError,
  CacheReturnCode,
  createFernetCipher,
  type CacheClientOptions,
  type WarningEvent,
} from '../src/index.js';
import { collect } from './helpers/events.js';
import { runPython } from './helpers/python.js';
import { RecordingBackend } from '@stowage/testkit';

const PASSPHRASE = 'supersecretpassword';

// Decrypts each stored item the way a Q2 Python service would: inflate when the bytes are zlib
// (compression is the outermost layer), Fernet-decrypt with base64url(sha256(passphrase)) or a
// raw Fernet key, json.loads. Answers compact, key-sorted JSON of each value.
const PY_DECRYPT = `
import sys, json, base64, hashlib, zlib
from cryptography.fernet import Fernet
req = json.load(sys.stdin)
key = req.get('fernetKey') or base64.urlsafe_b64encode(hashlib.sha256(req['passphrase'].encode()).digest())
f = Fernet(key)
out = []
for stored in req['items']:
    raw = base64.b64decode(stored)
    if raw[:1] == b'\\x78':
        raw = zlib.decompress(raw)
    value = json.loads(f.decrypt(raw))
    out.append(json.dumps(value, sort_keys=True, separators=(',', ':'), ensure_ascii=False))
print(json.dumps(out))
`;

// Encrypts values the way Q2 writes them: json.dumps with Python's defaults, then Fernet, and
// also the zlib-compressed form (COMPRESS_DATA on). Answers base64 of the stored bytes.
const PY_ENCRYPT = `
import sys, json, base64, hashlib, zlib
from cryptography.fernet import Fernet
req = json.load(sys.stdin)
key = req.get('fernetKey') or base64.urlsafe_b64encode(hashlib.sha256(req['passphrase'].encode()).digest())
f = Fernet(key)
values = {
  'str': 'hello',
  'unicode': 'h\\u00e9llo \\u4e16\\u754c \\U0001F600',
  'empty': '',
  'lookalike': 'x^abc',
  'dict': {'a': [1, 2], 'b': None, 'c': True},
  'int': -5,
  'bigint': 2 ** 70,
  'bool': True,
  'float': 1.5,
  'nan': [float('nan'), float('inf')],
  'big': 'lorem ' * 400,
}
out = {}
for name, value in values.items():
    token = f.encrypt(json.dumps(value).encode())
    out[name] = [base64.b64encode(token).decode(), base64.b64encode(zlib.compress(token)).decode()]
print(json.dumps(out))
`;

const PY_GENERATE_KEY = `
import json
from cryptography.fernet import Fernet
print(json.dumps(Fernet.generate_key().decode()))
`;

function setup(options: Omit<CacheClientOptions, 'backend'>): {
  client: CacheClient;
  backend: RecordingBackend;
  warnings: WarningEvent[];
} {
  const backend = new RecordingBackend();
  const client = new CacheClient({ ...options, backend });
  const warnings = collect(client, 'warning');
  return { client, backend, warnings };
}

const big = 'lorem '.repeat(400);
// [name, value, what Python's json.dumps(sort_keys, compact, ensure_ascii=False) prints]
const NODE_VALUES: Array<[string, unknown, string]> = [
  ['a string', 'hello', '"hello"'],
  ['a non-ASCII string', 'héllo 世界 😀', '"héllo 世界 😀"'],
  ['the empty string', '', '""'],
  ['a string that looks like zlib', 'x^abc', '"x^abc"'],
  ['an object', { b: 1, a: [1, 'x'] }, '{"a":[1,"x"],"b":1}'],
  ['an integer', -5, '-5'],
  ['a bigint', 2n ** 70n, '1180591620717411303424'],
  ['true', true, 'true'],
  ['null', null, 'null'],
  ['a float', 1.5, '1.5'],
  ['a string over the compression threshold', big, JSON.stringify(big)],
  ['an object over the compression threshold', { text: big }, JSON.stringify({ text: big })],
];

describe('createFernetCipher: Node writes, Python reads', () => {
  for (const compress of [1024, true, false] as const) {
    it(`decrypts every value type in Python (compress ${String(compress)})`, async () => {
      const { client, backend } = setup({
        cipher: createFernetCipher({ key: PASSPHRASE }),
        compress,
      });
      for (const [i, [, value]] of NODE_VALUES.entries()) await client.set(`v${i}`, value);
      const stored = NODE_VALUES.map((_, i) => {
        const entry = backend.peek(`v${i}`)!;
        expect(entry.flags).toBe(CacheReturnCode.Encrypted);
        return Buffer.from(entry.value).toString('base64');
      });
      const decoded = runPython<string[]>(PY_DECRYPT, { passphrase: PASSPHRASE, items: stored });
      expect(decoded).toEqual(NODE_VALUES.map(([, , python]) => python));
    });
  }

  it('reads back its own items of every type', async () => {
    const { client, warnings } = setup({ cipher: createFernetCipher({ key: PASSPHRASE }) });
    for (const [i, [, value]] of NODE_VALUES.entries()) await client.set(`v${i}`, value);
    for (const [i, [name, value]] of NODE_VALUES.entries()) {
      expect(await client.get(`v${i}`), name).toStrictEqual(value);
    }
    expect(warnings).toEqual([]);
  });

  it('writes padded URL-safe base64 tokens, as Python emits them', async () => {
    const { client, backend } = setup({
      cipher: createFernetCipher({ key: PASSPHRASE }),
      compress: false,
    });
    for (const value of ['a', 'ab', 'abc', 'abcd', { k: 'v' }]) {
      await client.set('k', value);
      const token = Buffer.from(backend.peek('k')!.value).toString('latin1');
      expect(token).toMatch(/^gAAAAA[A-Za-z0-9_-]+={0,2}$/);
      expect(token.length % 4).toBe(0);
    }
  });

  it('decrypts in Python with a raw Fernet key from Fernet.generate_key()', async () => {
    const fernetKey = runPython<string>(PY_GENERATE_KEY, {});
    const { client, backend } = setup({
      cipher: createFernetCipher({ key: fernetKey, derive: 'none' }),
    });
    await client.set('k', { from: 'node' });
    const stored = Buffer.from(backend.peek('k')!.value).toString('base64');
    expect(runPython<string[]>(PY_DECRYPT, { fernetKey, items: [stored] })).toEqual([
      '{"from":"node"}',
    ]);
  });
});

describe('createFernetCipher: Python writes, Node reads', () => {
  const written = runPython<Record<string, [string, string]>>(PY_ENCRYPT, {
    passphrase: PASSPHRASE,
  });
  const expected: Record<string, unknown> = {
    str: 'hello',
    unicode: 'héllo 世界 😀',
    empty: '',
    lookalike: 'x^abc',
    dict: { a: [1, 2], b: null, c: true },
    int: -5,
    bigint: 2n ** 70n,
    bool: true,
    float: 1.5,
    nan: [null, null],
    big: 'lorem '.repeat(400),
  };

  for (const [form, index] of [
    ['plain token', 0],
    ['zlib-compressed token', 1],
  ] as const) {
    it.each(Object.keys(expected))(`reads Python's %s as a ${form}`, async (name) => {
      const { client, backend, warnings } = setup({
        cipher: createFernetCipher({ key: PASSPHRASE }),
      });
      backend.put('k', Buffer.from(written[name]![index], 'base64'), CacheReturnCode.Encrypted);
      expect(await client.get('k', 'MISS')).toStrictEqual(expected[name]);
      expect(warnings).toEqual([]);
    });
  }
});

describe('createFernetCipher failures', () => {
  it('reads a token with a flipped bit as a miss plus a warning', async () => {
    const { client, backend, warnings } = setup({
      cipher: createFernetCipher({ key: PASSPHRASE }),
      compress: false,
    });
    await client.set('k', 'v');
    const token = Buffer.from(backend.peek('k')!.value);
    token[40] = token[40] === 0x41 ? 0x42 : 0x41;
    backend.put('k', token, CacheReturnCode.Encrypted);
    expect(await client.get('k', 'default')).toBe('default');
    expect(warnings[0]?.kind).toBe('decode');
  });

  it('reads a token from another passphrase as a miss', async () => {
    const backend = new RecordingBackend();
    const a = new CacheClient({ backend, cipher: createFernetCipher({ key: 'one' }) });
    const b = new CacheClient({ backend, cipher: createFernetCipher({ key: 'two' }) });
    await a.set('k', 'v');
    expect(await b.get('k')).toBeUndefined();
  });

  it('reads garbage under flag 4 as a miss', async () => {
    const { client, backend } = setup({ cipher: createFernetCipher({ key: PASSPHRASE }) });
    backend.put('k', 'not a token', CacheReturnCode.Encrypted);
    expect(await client.get('k')).toBeUndefined();
  });

  it.each([
    ['an empty passphrase', { key: '' }],
    ['a raw key that is not 32 bytes', { key: 'c2hvcnQ=', derive: 'none' as const }],
  ])('refuses %s with CacheConfigError', (_name, options) => {
    expect(() => createFernetCipher(options)).toThrow(CacheConfigError);
  });
});
