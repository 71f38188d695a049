/**
 * What the bundle changes in its dependencies' code, each change an exact text
 * replacement in one file, made as esbuild loads that file (build.ts). Each one
 * defers work a library does at load, at client construction or at a first request
 * that tvm never uses, to the moment something first uses it; none changes what any
 * call returns. (A
 * deferred field of @grpc/proto-loader's definitions is a getter until first read,
 * which then leaves a plain data property; nothing in the bundle inspects or freezes
 * those definitions before reading them.)
 *
 * A replacement must find its text exactly once, and every patched file must be met,
 * or the build stops: a library that moved on is noticed, never silently unpatched.
 * test/deploy/patches.test.ts runs each patched file beside the original.
 */

export interface Patch {
  /** The file, by its path's tail under node_modules. */
  readonly file: RegExp;
  /** Why: what is deferred, and what still works as before. */
  readonly why: string;
  readonly replacements: readonly (readonly [from: string, to: string])[];
}

/** A getter that computes once, then leaves a plain data property, as the library had. */
const LAZY_PROPERTY = `function __tvmLazy(target, key, compute) {
  Object.defineProperty(target, key, {
    configurable: true,
    enumerable: true,
    get() {
      const value = compute();
      Object.defineProperty(target, key, {value, writable: true, enumerable: true, configurable: true});
      return value;
    },
    set(value) {
      Object.defineProperty(target, key, {value, writable: true, enumerable: true, configurable: true});
    },
  });
  return target;
}
`;

export const PATCHES: readonly Patch[] = [
  {
    file: /[\\/]@grpc[\\/]proto-loader[\\/]build[\\/]src[\\/]index\.js$/,
    why: "@grpc/proto-loader builds, for every package definition, each message's and enum's descriptor and every file's encoded FileDescriptorProto, for gRPC reflection, and loads protobufjs's descriptor extension (all of descriptor.proto, resolved) to do so. A gRPC client reads neither: they are computed when first read.",
    replacements: [
      [
        'const descriptor = require("protobufjs/ext/descriptor");\n',
        `let __tvmDescriptor;
const descriptorExtension = () => (__tvmDescriptor ??= require("protobufjs/ext/descriptor"));
${LAZY_PROPERTY}`,
      ],
      [
        `    const messageDescriptor = message.toDescriptor('proto3');
    return {
        format: 'Protocol Buffer 3 DescriptorProto',
        type: messageDescriptor.$type.toObject(messageDescriptor, descriptorOptions),
        fileDescriptorProtos: fileDescriptors,
        serialize: createSerializer(message),
        deserialize: createDeserializer(message, options)
    };`,
        `    const definition = {
        format: 'Protocol Buffer 3 DescriptorProto',
        type: undefined,
        fileDescriptorProtos: undefined,
        serialize: createSerializer(message),
        deserialize: createDeserializer(message, options)
    };
    __tvmLazy(definition, 'type', () => {
        descriptorExtension();
        const messageDescriptor = message.toDescriptor('proto3');
        return messageDescriptor.$type.toObject(messageDescriptor, descriptorOptions);
    });
    return __tvmLazy(definition, 'fileDescriptorProtos', fileDescriptors);`,
      ],
      [
        `    const enumDescriptor = enumType.toDescriptor('proto3');
    return {
        format: 'Protocol Buffer 3 EnumDescriptorProto',
        type: enumDescriptor.$type.toObject(enumDescriptor, descriptorOptions),
        fileDescriptorProtos: fileDescriptors,
    };`,
        `    const definition = {
        format: 'Protocol Buffer 3 EnumDescriptorProto',
        type: undefined,
        fileDescriptorProtos: undefined,
    };
    __tvmLazy(definition, 'type', () => {
        descriptorExtension();
        const enumDescriptor = enumType.toDescriptor('proto3');
        return enumDescriptor.$type.toObject(enumDescriptor, descriptorOptions);
    });
    return __tvmLazy(definition, 'fileDescriptorProtos', fileDescriptors);`,
      ],
      [
        `    const descriptorList = root.toDescriptor('proto3').file;
    const bufferList = descriptorList.map(value => Buffer.from(descriptor.FileDescriptorProto.encode(value).finish()));
    for (const [name, obj] of getAllHandledReflectionObjects(root, '')) {
        def[name] = createDefinition(obj, name, options, bufferList);
    }`,
        `    let bufferList;
    const fileDescriptors = () => (bufferList ??= (descriptorExtension(), root.toDescriptor('proto3').file.map(value => Buffer.from(descriptorExtension().FileDescriptorProto.encode(value).finish()))));
    for (const [name, obj] of getAllHandledReflectionObjects(root, '')) {
        def[name] = createDefinition(obj, name, options, fileDescriptors);
    }`,
      ],
      [
        'descriptor.FileDescriptorSet.decode(descriptorSet)',
        'descriptorExtension().FileDescriptorSet.decode(descriptorSet)',
      ],
      [
        'descriptor.FileDescriptorSet.fromObject(descriptorSet)',
        'descriptorExtension().FileDescriptorSet.fromObject(descriptorSet)',
      ],
    ],
  },
  {
    file: /[\\/]pino[\\/]lib[\\/]tools\.js$/,
    why: "pino reads worker_threads' isMainThread at load, to decide whether an asynchronous destination is flushed at exit; tvm's destination is synchronous, and Node's worker_threads module is loaded only should one be asynchronous.",
    replacements: [
      ["const { isMainThread } = require('worker_threads')\n", ''],
      [
        '  if (!opts.sync && isMainThread) {',
        "  if (!opts.sync && require('worker_threads').isMainThread) {",
      ],
    ],
  },
  {
    file: /[\\/]pino[\\/]lib[\\/]transport\.js$/,
    why: 'pino loads thread-stream (with worker_threads and assert) at load, for transports, which run in worker threads; tvm has none, and thread-stream is loaded should a transport be made.',
    replacements: [
      [
        "const ThreadStream = require('thread-stream')\n",
        "const loadThreadStream = () => require('thread-stream')\n",
      ],
      [
        '  const stream = new ThreadStream({',
        '  const ThreadStream = loadThreadStream()\n  const stream = new ThreadStream({',
      ],
    ],
  },
  {
    file: /[\\/]sonic-boom[\\/]index\.js$/,
    why: "sonic-boom loads Node's assert at load for one check as a stream is closed; it is loaded at that check.",
    replacements: [
      [
        "const assert = require('assert')\n",
        "const assert = (...args) => require('assert')(...args)\n",
      ],
    ],
  },
  {
    file: /[\\/]google-logging-utils[\\/]build[\\/]src[\\/]logging-utils\.js$/,
    why: "google-logging-utils imports node:util through TypeScript's __importStar, which asks for every property's descriptor, and Node then loads each of util's lazily loaded members (its argument parser, its diff, worker_threads...); it reads util.format and util.formatWithOptions, the same through util itself.",
    replacements: [
      [
        'const util = __importStar(require("util"));\n',
        'const util = require("util");\n',
      ],
    ],
  },
  {
    file: /[\\/]gaxios[\\/]build[\\/]cjs[\\/]src[\\/]gaxios\.js$/,
    why: "gaxios asks of every request's data whether it is a Blob, a File, a ReadableStream..., to pass it through as the body; no data (the metadata server's token request, the first call of an impersonated mint) or a plain object is none of them, and asking makes Node load its web streams, ReadableStream being a lazily made global: about 2 ms of a cold start's first mint. For those two the answer is given first; anything else (a Proxy included) is asked as before. The whole expression is the text replaced, so a gaxios that changes any of it stops the build.",
    replacements: [
      [
        `        const shouldDirectlyPassData = typeof opts.data === 'string' ||
            opts.data instanceof ArrayBuffer ||
            opts.data instanceof Blob ||
            // Node 18 does not have a global \`File\` object
            (globalThis.File && opts.data instanceof File) ||
            opts.data instanceof FormData ||
            opts.data instanceof stream_1.Readable ||
            opts.data instanceof ReadableStream ||
            opts.data instanceof String ||
            opts.data instanceof URLSearchParams ||
            ArrayBuffer.isView(opts.data) || // \`Buffer\` (Node.js), \`DataView\`, \`TypedArray\`
            /**
             * @deprecated \`node-fetch\` or another third-party's request types
             */
            ['Blob', 'File', 'FormData'].includes(opts.data?.constructor?.name || '');
`,
        `        const shouldDirectlyPassData = typeof opts.data === 'string' ||
            // tvm: no data, or a plain object, is none of what follows; asking would
            // make Node load its web streams (ReadableStream is a lazy global).
            (opts.data != null &&
                !(typeof opts.data === 'object' &&
                    !require('util').types.isProxy(opts.data) &&
                    Object.getPrototypeOf(opts.data) === Object.prototype &&
                    !Object.hasOwn(opts.data, 'constructor')) && (
            opts.data instanceof ArrayBuffer ||
            opts.data instanceof Blob ||
            // Node 18 does not have a global \`File\` object
            (globalThis.File && opts.data instanceof File) ||
            opts.data instanceof FormData ||
            opts.data instanceof stream_1.Readable ||
            opts.data instanceof ReadableStream ||
            opts.data instanceof String ||
            opts.data instanceof URLSearchParams ||
            ArrayBuffer.isView(opts.data) || // \`Buffer\` (Node.js), \`DataView\`, \`TypedArray\`
            /**
             * @deprecated \`node-fetch\` or another third-party's request types
             */
            ['Blob', 'File', 'FormData'].includes(opts.data?.constructor?.name || '')));
`,
      ],
    ],
  },
];

/** `source` of the file `patch` names, patched; throws where a text is not met once. */
export function applyPatch(patch: Patch, source: string): string {
  let out = source;
  for (const [from, to] of patch.replacements) {
    const at = out.indexOf(from);
    if (at < 0 || out.indexOf(from, at + 1) >= 0) {
      throw new Error(
        `build: patch of ${patch.file}: ${at < 0 ? 'text not found' : 'text found more than once'}: ${JSON.stringify(from.slice(0, 80))}`,
      );
    }
    out = out.slice(0, at) + to + out.slice(at + from.length);
  }
  return out;
}
