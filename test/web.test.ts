/**
 * src/web.ts against Node's own Headers and Response (undici's, the Fetch standard's
 * reference here): the same inputs must give the same results, or the same kind of
 * error, for everything the bundled libraries and tvm do with them.
 */
import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import * as web from '../src/web.ts';

/** Node's classes, typed as ours: the same shape is the point of this file. */
const Native = {
  Headers: globalThis.Headers as unknown as typeof web.Headers,
  Response: globalThis.Response as unknown as typeof web.Response,
};

/** What a call gives: its value, or the kind of error it threw. */
function outcome(f: () => unknown): unknown {
  try {
    return {value: f()};
  } catch (e) {
    return {error: (e as Error).constructor.name};
  }
}

async function outcomeAsync(f: () => Promise<unknown>): Promise<unknown> {
  try {
    return {value: await f()};
  } catch (e) {
    return {error: (e as Error).constructor.name};
  }
}

const dump = (h: {entries(): Iterable<[string, string]>}) => [...h.entries()];

void describe('Headers', () => {
  const inits: unknown[] = [
    undefined,
    null,
    {},
    {'Content-Type': 'application/json', Accept: '*/*'},
    {b: '2', a: '1', C: '3'},
    [
      ['X-A', '1'],
      ['x-a', '2'],
      ['Set-Cookie', 'a=1'],
      ['set-cookie', 'b=2'],
    ],
    [['x', ' \t padded \r\n ']],
    [['x', '']],
    [['x', 'inner  spaces kept']],
    {Authorization: 'Bearer abc', 'x-goog-user-project': 'p'},
    new Native.Headers({'X-From': 'native', 'set-cookie': 'c=3'}),
    new Map([
      ['k', 'v'],
      ['K2', 'v2'],
    ]),
    {n: 1, b: true},
    // Refused alike: bad names, bad values, bad shapes.
    {'bad name': 'x'},
    {'': 'x'},
    {'x(y)': 'x'},
    {x: 'a\r\nb'},
    {x: 'a\nb'},
    {x: 'a\0b'},
    [['only-name']],
    [['a', 'b', 'c']],
    [['a', undefined]],
    ['ab'],
    [new Set(['x-set', 'from a set'])],
    'a string',
    42,
  ];

  void test('built from every kind of init as Node builds it', () => {
    for (const init of inits) {
      const native = outcome(() => dump(new Native.Headers(init as never)));
      const ours = outcome(() => dump(new web.Headers(init as never)));
      assert.deepEqual(ours, native, `init ${JSON.stringify(init)}`);
    }
  });

  void test('a Headers of ours is a valid init for Node and for ours', () => {
    const h = new web.Headers({b: '2', 'Set-Cookie': 'x=1'});
    h.append('set-cookie', 'y=2');
    assert.deepEqual(dump(new Native.Headers(h as never)), dump(h));
    assert.deepEqual(dump(new web.Headers(h)), dump(h));
  });

  void test('append, set, get, has, delete and getSetCookie as Node does them', () => {
    const steps: [string, ...unknown[]][] = [
      ['append', 'Accept', 'a'],
      ['append', 'accept', ' b '],
      ['get', 'ACCEPT'],
      ['set', 'Accept', 'c'],
      ['get', 'accept'],
      ['append', 'Set-Cookie', 's=1'],
      ['append', 'Set-Cookie', 's=2'],
      ['get', 'set-cookie'],
      ['getSetCookie'],
      ['has', 'set-cookie'],
      ['set', 'set-cookie', 's=3'],
      ['getSetCookie'],
      ['delete', 'Set-Cookie'],
      ['has', 'set-cookie'],
      ['get', 'set-cookie'],
      ['getSetCookie'],
      ['get', 'missing'],
      ['has', 'missing'],
      ['delete', 'missing'],
      ['append', 'x', 'line\r\nbreak'],
      ['set', 'bad name', 'v'],
      ['get', 'bad name'],
      ['has', 'bad:name'],
      ['delete', 'bad name'],
      ['set', 'x', 123],
      ['get', 'x'],
      ['entries'],
      ['keys'],
      ['values'],
    ];
    const native = new Native.Headers();
    const ours = new web.Headers();
    for (const [method, ...args] of steps) {
      const call = (h: object) => () => {
        const r = (h as Record<string, (...a: unknown[]) => unknown>)[method]!(
          ...args,
        );
        return r && typeof r === 'object' && Symbol.iterator in r
          ? [...(r as Iterable<unknown>)]
          : r;
      };
      assert.deepEqual(
        outcome(call(ours)),
        outcome(call(native)),
        `${method}(${args.map(a => JSON.stringify(a)).join(', ')})`,
      );
    }
  });

  void test('forEach and iteration: sorted, Set-Cookie apart, the callback given the headers', () => {
    const init = {z: '1', a: '2', 'set-cookie': 'c=1', m: '3'};
    const seen = (H: typeof web.Headers) => {
      const h = new H(init);
      const calls: unknown[] = [];
      h.forEach(function (this: unknown, value, name, self) {
        calls.push([value, name, self === h, this]);
      }, 'this');
      return {
        calls,
        spread: [...h],
        keys: [...h.keys()],
        values: [...h.values()],
      };
    };
    assert.deepEqual(seen(web.Headers), seen(Native.Headers));
    assert.equal(
      Object.prototype.toString.call(new web.Headers()),
      '[object Headers]',
    );
  });

  void test('errors name the header, never its value', () => {
    const secret = 'Bearer sek\r\nrit';
    assert.throws(
      () => new web.Headers({Authorization: secret}),
      (e: Error) =>
        e instanceof TypeError &&
        !e.message.includes('sek') &&
        !e.message.includes('rit'),
    );
  });
});

void describe('Response', () => {
  const bodies: unknown[] = [
    undefined,
    null,
    '',
    'text',
    '{"a":1}',
    '\uFEFF{"bom":true}',
    'héllo ✓',
    Buffer.from('buffer body'),
    new Uint8Array([0xff, 0xfe, 0x41]),
    new Uint8Array([104, 105]).buffer,
    new URLSearchParams({a: '1', b: 'x y'}),
  ];
  const inits: unknown[] = [
    undefined,
    {},
    {status: 201, statusText: 'Created', headers: {'X-A': '1'}},
    {status: 404, headers: [['content-type', 'application/json']]},
    {status: 599},
    {status: 204},
    {status: 304},
    {status: 199},
    {status: 600},
    {status: 101},
    {status: 200.5},
    {status: null},
    {status: '201'},
    null,
    {statusText: 'bad\ntext'},
    {statusText: 'ok é'},
    {headers: {'bad name': 'x'}},
  ];

  const shape = (r: web.Response) => ({
    status: r.status,
    statusText: r.statusText,
    ok: r.ok,
    type: r.type,
    url: r.url,
    redirected: r.redirected,
    bodyUsed: r.bodyUsed,
    hasBody: r.body !== null,
    headers: [...r.headers.entries()],
  });

  void test('constructed and read as Node does it, for every body and init', async () => {
    for (const body of bodies) {
      for (const init of inits) {
        for (const read of ['text', 'json', 'arrayBuffer', 'bytes', 'blob']) {
          const run = (R: typeof web.Response) => async () => {
            const r = new R(body as never, init as never);
            const before = shape(r);
            let value = await (
              r as unknown as Record<string, () => Promise<unknown>>
            )[read]!();
            if (value instanceof ArrayBuffer)
              value = [...new Uint8Array(value)];
            else if (value instanceof Uint8Array) value = [...value];
            else if (value instanceof Blob) {
              value = {
                type: value.type,
                bytes: [...new Uint8Array(await value.arrayBuffer())],
              };
            }
            const again = await outcomeAsync(() => r.text());
            return {before, value, after: r.bodyUsed, again};
          };
          assert.deepEqual(
            await outcomeAsync(run(web.Response)),
            await outcomeAsync(run(Native.Response)),
            `body ${String(body)}, init ${JSON.stringify(init)}, ${read}()`,
          );
        }
      }
    }
  });

  void test('the body as a stream: read once, then used', async () => {
    const run = (R: typeof web.Response) => async () => {
      const r = new R('streamed', {status: 200});
      const first = r.bodyUsed;
      const chunks: number[] = [];
      for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) {
        chunks.push(...chunk);
      }
      return {
        first,
        text: Buffer.from(chunks).toString(),
        used: r.bodyUsed,
        again: await outcomeAsync(() => r.text()),
        clone: outcome(() => r.clone()),
      };
    };
    assert.deepEqual(
      await outcomeAsync(run(web.Response)),
      await outcomeAsync(run(Native.Response)),
    );
    assert.equal(new web.Response(null).body, null);
  });

  void test('a cancelled body is used, as Node has it', async () => {
    const run = (R: typeof web.Response) => async () => {
      const r = new R('cancelled');
      await r.body!.cancel();
      return {used: r.bodyUsed, again: await outcomeAsync(() => r.text())};
    };
    assert.deepEqual(
      await outcomeAsync(run(web.Response)),
      await outcomeAsync(run(Native.Response)),
    );
  });

  void test('clone: the same answer twice, each read once', async () => {
    const r = new web.Response('twice', {status: 202, headers: {a: '1'}});
    const c = r.clone();
    assert.equal(await r.text(), 'twice');
    assert.equal(await c.text(), 'twice');
    assert.equal(c.status, 202);
    assert.equal(c.headers.get('a'), '1');
    assert.throws(() => r.clone(), TypeError);
  });

  void test('a body it does not carry is refused, not read', () => {
    for (const body of [
      new ReadableStream(),
      new Blob(['x']),
      {some: 'object'},
      42,
    ]) {
      assert.throws(() => new web.Response(body as never), TypeError);
    }
    return new web.Response('x').formData().then(
      () => assert.fail('formData() resolved'),
      (e: unknown) => assert.ok(e instanceof TypeError),
    );
  });
});

void test('Request and FormData are there to test against, and cannot be built', () => {
  assert.throws(() => new web.Request(), TypeError);
  assert.throws(() => new web.FormData(), TypeError);
  assert.equal({} instanceof web.Request, false);
  assert.equal(new Native.Response('x') instanceof web.Response, false);
});
