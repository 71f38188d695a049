/**
 * The bundle's patches of its dependencies (scripts/build/patches.ts): each applies to
 * the installed version, and each patched file, run beside the original, gives the
 * same results, computing what it defers only when that is first read.
 */
import {after, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {execFileSync} from 'node:child_process';
import {mkdtempSync, readFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {createRequire} from 'node:module';
import {dirname, join} from 'node:path';
import {applyPatch, PATCHES, type Patch} from '../../scripts/build/patches.ts';

const root = join(import.meta.dirname, '../..');
const require = createRequire(join(root, 'package.json'));

/** The files patched, as installed. */
const INSTALLED = [
  '@grpc/proto-loader/build/src/index.js',
  'pino/lib/tools.js',
  'pino/lib/transport.js',
  'sonic-boom/index.js',
  'google-logging-utils/build/src/logging-utils.js',
  'gaxios/build/cjs/src/gaxios.js',
].map(f => join(root, 'node_modules', f));

function patchFor(file: string): {patch: Patch; path: string} {
  const path = join(root, 'node_modules', file);
  const patch = PATCHES.find(p => p.file.test(path));
  assert.ok(patch, `a patch for ${file}`);
  return {patch, path};
}

/** Runs a patched CommonJS file as Node would run the original, in its folder. */
function load(path: string, source: string): unknown {
  const module = {exports: {}};
  const body = new Function(
    'exports',
    'require',
    'module',
    '__filename',
    '__dirname',
    source,
  ) as (...args: unknown[]) => void;
  body(module.exports, createRequire(path), module, path, dirname(path));
  return module.exports;
}

/** A definition's fields, each function (made afresh by every load) as its name. */
function plain(value: unknown): unknown {
  if (typeof value === 'function') return `function ${value.name}`;
  if (value === null || typeof value !== 'object' || Buffer.isBuffer(value)) {
    return value;
  }
  if (Array.isArray(value)) return value.map(plain);
  return Object.fromEntries(
    Object.keys(value).map(k => [
      k,
      plain((value as Record<string, unknown>)[k]),
    ]),
  );
}

void describe('patches of dependencies', () => {
  void test('each applies to the installed version, its texts met', () => {
    assert.ok(PATCHES.length > 0);
    for (const patch of PATCHES) {
      const paths = INSTALLED.filter(f => patch.file.test(f));
      assert.ok(paths.length > 0, `installed: ${patch.file}`);
      for (const path of paths) {
        const source = readFileSync(path, 'utf8');
        const out = applyPatch(patch, source);
        assert.notEqual(out, source);
        for (const [from, to] of patch.replacements) {
          if (!to.includes(from)) assert.ok(!out.includes(from), from);
        }
      }
    }
  });

  void test('a text not met, or met twice, stops the build', () => {
    const patch: Patch = {
      file: /x\.js$/,
      why: 'test',
      replacements: [['needle', 'pin']],
    };
    assert.equal(applyPatch(patch, 'a needle here'), 'a pin here');
    assert.throws(() => applyPatch(patch, 'no such text'), /text not found/);
    assert.throws(
      () => applyPatch(patch, 'needle and needle'),
      /text found more than once/,
    );
  });

  void describe('@grpc/proto-loader: descriptors built when first read', () => {
    const {patch, path} = patchFor('@grpc/proto-loader/build/src/index.js');
    const patched = applyPatch(patch, readFileSync(path, 'utf8'));
    const extension = require.resolve('protobufjs/ext/descriptor');
    // Loaded before the original, which loads protobufjs's descriptor extension.
    const lazy = load(path, patched) as typeof import('@grpc/proto-loader');
    const extensionAfterLoad = extension in require.cache;
    const json = JSON.parse(
      readFileSync(
        require.resolve('@google-cloud/secret-manager/build/protos/protos.json'),
        'utf8',
      ),
    ) as object;
    // google-gax's options for loadProtoJSON.
    const options = {
      keepCase: false,
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
    };
    const deferred = lazy.fromJSON(json, options);
    const extensionAfterDefinition = extension in require.cache;
    const original = (
      require('@grpc/proto-loader') as typeof import('@grpc/proto-loader')
    ).fromJSON(json, options);

    void test('neither loading it nor building a package definition loads the descriptor extension', () => {
      assert.equal(extensionAfterLoad, false);
      assert.equal(extensionAfterDefinition, false);
      assert.doesNotMatch(patched, /[^.\w]descriptor\./);
    });

    void test('every definition is what the original builds, read field by field', () => {
      const names = Object.keys(original).sort();
      assert.deepEqual(Object.keys(deferred).sort(), names);
      assert.ok(names.length > 100, `${names.length} definitions`);
      let messages = 0;
      for (const name of names) {
        const a = original[name] as unknown as Record<string, unknown>;
        const b = deferred[name] as unknown as Record<string, unknown>;
        assert.deepEqual(Object.keys(b), Object.keys(a), name);
        if ('format' in a) {
          messages++;
          assert.deepEqual(b.type, a.type, name);
          assert.deepEqual(
            b.fileDescriptorProtos,
            a.fileDescriptorProtos,
            name,
          );
        } else {
          // A service: its methods, with their request and response definitions.
          for (const method of Object.keys(a)) {
            const ma = a[method] as Record<string, unknown>;
            const mb = b[method] as Record<string, unknown>;
            assert.deepEqual(Object.keys(mb), Object.keys(ma), method);
            for (const key of Object.keys(ma)) {
              assert.deepEqual(
                plain(mb[key]),
                plain(ma[key]),
                `${name}.${method}.${key}`,
              );
            }
          }
        }
      }
      assert.ok(messages > 100);
      assert.equal(extension in require.cache, true);
    });

    void test('serializes and deserializes as the original', () => {
      const method = 'google.cloud.secretmanager.v1.SecretManagerService';
      type Method = {
        requestSerialize: (v: unknown) => Buffer;
        responseDeserialize: (b: Buffer) => unknown;
        responseSerialize: (v: unknown) => Buffer;
      };
      const a = (original[method] as unknown as Record<string, Method>)
        .AccessSecretVersion!;
      const b = (deferred[method] as unknown as Record<string, Method>)
        .AccessSecretVersion!;
      const request = {name: 'projects/p/secrets/s/versions/latest'};
      assert.deepEqual(
        b.requestSerialize(request),
        a.requestSerialize(request),
      );
      const response = {
        name: 'projects/p/secrets/s/versions/1',
        payload: {data: Buffer.from('policy'), dataCrc32c: '42'},
      };
      const bytes = a.responseSerialize(response);
      assert.ok(bytes.length > 20);
      assert.deepEqual(
        b.responseDeserialize(bytes),
        a.responseDeserialize(bytes),
      );
    });

    void test('a file descriptor set loads as the original loads it, as bytes and as an object', () => {
      // The set the definitions describe: each FileDescriptorProto as field 1 (bytes).
      const files = (
        original['google.cloud.secretmanager.v1.SecretPayload'] as unknown as {
          fileDescriptorProtos: Buffer[];
        }
      ).fileDescriptorProtos;
      assert.ok(files.length > 3);
      const set = Buffer.concat(
        files.flatMap(file => {
          const length: number[] = [];
          for (let n = file.length; ; n >>>= 7) {
            if (n < 0x80) {
              length.push(n);
              break;
            }
            length.push((n & 0x7f) | 0x80);
          }
          return [Buffer.from([0x0a, ...length]), file];
        }),
      );
      const loader =
        require('@grpc/proto-loader') as typeof import('@grpc/proto-loader');
      const fromBytes = lazy.loadFileDescriptorSetFromBuffer(set, options);
      const expected = loader.loadFileDescriptorSetFromBuffer(set, options);
      const descriptor = require('protobufjs/ext/descriptor') as {
        FileDescriptorSet: {
          decode(b: Buffer): object;
          toObject(m: object): object;
        };
      };
      const object = descriptor.FileDescriptorSet.toObject(
        descriptor.FileDescriptorSet.decode(set),
      );
      const fromObject = lazy.loadFileDescriptorSetFromObject(object, options);
      for (const loaded of [fromBytes, fromObject]) {
        assert.deepEqual(
          Object.keys(loaded).sort(),
          Object.keys(expected).sort(),
        );
        for (const name of Object.keys(expected)) {
          assert.deepEqual(plain(loaded[name]), plain(expected[name]), name);
        }
      }
      assert.ok(Object.keys(expected).length > 100);
    });

    void test('a deferred field reads, and is set, as a plain data property', () => {
      const fresh = lazy.fromJSON(json, options);
      const name = 'google.cloud.secretmanager.v1.SecretPayload';
      const definition = fresh[name] as unknown as Record<string, unknown>;
      const type = definition.type;
      assert.deepEqual(
        type,
        (original[name] as unknown as Record<string, unknown>).type,
      );
      const descriptor = Object.getOwnPropertyDescriptor(definition, 'type')!;
      assert.equal(descriptor.value, type);
      assert.equal(descriptor.writable, true);
      assert.equal(descriptor.enumerable, true);
      definition.fileDescriptorProtos = ['set'];
      assert.deepEqual(definition.fileDescriptorProtos, ['set']);
    });
  });

  void describe('pino and sonic-boom: worker_threads, thread-stream and assert loaded when used', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tvm-patches-'));
    after(() => rmSync(dir, {recursive: true, force: true}));
    const patched = (file: string) => {
      const {patch, path} = patchFor(file);
      const source = applyPatch(patch, readFileSync(path, 'utf8'));
      return {source, exports: load(path, source) as Record<string, unknown>};
    };
    const threadStream = require.resolve('thread-stream');
    const transport = patched('pino/lib/transport.js');
    const threadStreamAtLoad = threadStream in require.cache;
    // The patched tools load pino's own transport.js, unpatched, after this.
    const tools = patched('pino/lib/tools.js');
    const sonic = patched('sonic-boom/index.js');

    void test('none of them loads them at load', () => {
      assert.doesNotMatch(tools.source, /require\('worker_threads'\)\n/);
      assert.doesNotMatch(transport.source, /^const ThreadStream = /m);
      assert.doesNotMatch(sonic.source, /^const assert = require/m);
      assert.equal(threadStreamAtLoad, false, 'thread-stream loaded');
      for (const [name, file] of [
        ['tools', 'pino/lib/tools.js'],
        ['sonic', 'sonic-boom/index.js'],
      ] as const) {
        const original = require(join(root, 'node_modules', file)) as object;
        const mine = name === 'tools' ? tools.exports : sonic.exports;
        assert.deepEqual(
          Object.keys(mine).sort(),
          Object.keys(original).sort(),
        );
      }
    });

    void test("sonic-boom's check as a stream closes still runs", async () => {
      const SonicBoom = sonic.exports as unknown as new (o: object) => {
        write(s: string): boolean;
        end(): void;
        once(e: string, f: () => void): void;
      };
      const file = join(dir, 'sonic.log');
      const stream = new SonicBoom({dest: file, sync: true});
      stream.write('one line\n');
      await new Promise<void>(resolve => {
        stream.once('close', resolve);
        stream.end();
      });
      assert.equal(readFileSync(file, 'utf8'), 'one line\n');
    });

    void test('an asynchronous destination of the patched tools is still flushed at exit', () => {
      const build = tools.exports.buildSafeSonicBoom as (o: object) => {
        listenerCount(e: string): number;
        destroy(): void;
      };
      const asynchronous = build({dest: join(dir, 'async.log'), sync: false});
      // Registered for the exit flush (on-exit-leak-free) only on the main thread.
      assert.equal(asynchronous.listenerCount('close'), 1);
      const synchronous = build({dest: join(dir, 'sync.log'), sync: true});
      assert.equal(synchronous.listenerCount('close'), 0);
      asynchronous.destroy();
      synchronous.destroy();
    });

    void test('a transport is still made, and writes, in its worker thread', async () => {
      const make = transport.exports as unknown as (o: object) => {
        write(s: string): boolean;
        end(): void;
        once(e: string, f: () => void): void;
      };
      const file = join(dir, 'transport.log');
      const stream = make({
        target: join(root, 'node_modules/pino/file.js'),
        options: {destination: file, mkdir: true},
      });
      await new Promise<void>(resolve => stream.once('ready', resolve));
      stream.write('{"msg":"through a worker"}\n');
      await new Promise<void>(resolve => {
        stream.once('close', resolve);
        stream.end();
      });
      assert.equal(readFileSync(file, 'utf8'), '{"msg":"through a worker"}\n');
      assert.equal(threadStream in require.cache, true);
    });
  });

  void test("gaxios: no data and a plain object go as before, without Node's web streams", async () => {
    const {patch, path} = patchFor('gaxios/build/cjs/src/gaxios.js');
    const source = applyPatch(patch, readFileSync(path, 'utf8'));
    type Prepared = {body?: unknown; headers: Headers};
    type Gaxios = {
      request(o: object): Promise<{data: Prepared}>;
    };
    const makers = {
      patched: (load(path, source) as {Gaxios: new () => Gaxios}).Gaxios,
      original: (require(path) as {Gaxios: new () => Gaxios}).Gaxios,
    };
    // What gaxios prepared for the wire, caught by an adapter in place of fetch.
    const prepare = async (Maker: new () => Gaxios, data: unknown) =>
      (
        await new Maker().request({
          url: 'http://127.0.0.1:9/x',
          method: 'POST',
          data,
          adapter: (opts: Prepared) =>
            Promise.resolve({data: opts, status: 200, headers: new Headers()}),
        })
      ).data;
    const withConstructor = {constructor: {name: 'Blob'}, a: 1};
    const values: unknown[] = [
      undefined,
      null,
      {a: 1, b: [1, 2]},
      Object.create(null),
      withConstructor,
      'text',
      7,
      true,
      new URLSearchParams('a=1'),
      Buffer.from('bytes'),
      new Uint8Array([1, 2]),
      new ArrayBuffer(2),
      new Blob(['blob']),
      new FormData(),
      [1, 2],
      new Date(0),
      new Proxy({a: 1}, {}),
      // A Proxy that hides a Blob's prototype: still answered by its constructor's name.
      new Proxy(new Blob(['p']), {getPrototypeOf: () => Object.prototype}),
    ];
    for (const [i, data] of values.entries()) {
      const [patched, original] = await Promise.all([
        prepare(makers.patched, data),
        prepare(makers.original, data),
      ]);
      assert.deepEqual(patched.body, original.body, `body of value ${i}`);
      assert.equal(
        patched.headers.get('content-type'),
        original.headers.get('content-type'),
        `content type of value ${i}`,
      );
    }
    // In a Node of its own, with tvm's Headers as the bundle has them (Node's are
    // undici's): the original asks for ReadableStream, which Node makes on first
    // access by loading its web streams; the patched one does not.
    const asksForStreams = (code: string) =>
      execFileSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `import {createRequire} from 'node:module';
import {dirname} from 'node:path';
const {Headers} = await import(${JSON.stringify(join(root, 'src/web.ts'))});
globalThis.Headers = Headers;
let asked = false;
Object.defineProperty(globalThis, 'ReadableStream', {configurable: true, get() {
  asked = true;
  return createRequire(import.meta.url)('node:stream/web').ReadableStream;
}});
const module_ = {exports: {}};
new Function('exports', 'require', 'module', '__filename', '__dirname', ${JSON.stringify(code)})(module_.exports, createRequire(${JSON.stringify(path)}), module_, ${JSON.stringify(path)}, dirname(${JSON.stringify(path)}));
const adapter = o => Promise.resolve({data: o, status: 200, headers: new Headers()});
const gaxios = new module_.exports.Gaxios();
await gaxios.request({url: 'http://127.0.0.1:9/x', adapter});
await gaxios.request({url: 'http://127.0.0.1:9/x', method: 'POST', data: {a: 1}, adapter});
console.log(asked);`,
        ],
        {encoding: 'utf8'},
      ).trim();
    assert.equal(asksForStreams(readFileSync(path, 'utf8')), 'true');
    assert.equal(asksForStreams(source), 'false');
  });

  void test("google-logging-utils: util's members are read through util itself", () => {
    const {patch, path} = patchFor(
      'google-logging-utils/build/src/logging-utils.js',
    );
    const source = applyPatch(patch, readFileSync(path, 'utf8'));
    assert.doesNotMatch(source, /__importStar\(require\("util"\)\)/);
    // Every use of util is a member read, which util answers as the namespace did.
    const uses = source.match(/\butil\.\w+/g) ?? [];
    assert.deepEqual([...new Set(uses)].sort(), [
      'util.debuglog',
      'util.format',
      'util.formatWithOptions',
    ]);
    const patched = load(path, source) as {
      getNodeBackend(): {makeLogger(ns: string): (...a: unknown[]) => void};
      log(ns: string): {info(...a: unknown[]): void};
    };
    const original = require(path) as typeof patched;
    assert.deepEqual(Object.keys(patched).sort(), Object.keys(original).sort());
    assert.equal(typeof patched.getNodeBackend().makeLogger('tvm'), 'function');
  });
});
