/**
 * The trimmed protos the build bundles (scripts/build/protos.ts): for the JSON protos
 * of the client libraries the bundle carries, built into gRPC definitions by
 * @grpc/proto-loader as google-gax builds them, every service and message the trimmed
 * document keeps is defined exactly as the whole document defines it, and nothing of
 * the namespaces asked for is lost. The built bundle's client talks to the emulator in
 * test/deploy/bundle.test.ts.
 */
import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import {join} from 'node:path';
import {fromJSON, type PackageDefinition} from '@grpc/proto-loader';
import {trimProtos, type ProtoJson} from '../../scripts/build/protos.ts';

const root = join(import.meta.dirname, '../..');
const read = (path: string) =>
  JSON.parse(
    readFileSync(join(root, 'node_modules', path), 'utf8'),
  ) as ProtoJson;

/** google-gax's options for loadProtoJSON. */
const OPTIONS = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

/**
 * A definition without its functions (serializers, made afresh by each load) and the
 * file descriptors it was found in (the trimmed document has fewer types in its file).
 */
function comparable(definition: unknown): unknown {
  return JSON.parse(
    JSON.stringify(definition, (key, value: unknown) =>
      key === 'fileDescriptorProtos' ? undefined : value,
    ),
  ) as unknown;
}

function names(definition: PackageDefinition, prefix: string): string[] {
  return Object.keys(definition)
    .filter(name => name.startsWith(`${prefix}.`))
    .sort();
}

/** What the client calls: the only methods its service keeps, with their types. */
const ACCESS = 'google.cloud.secretmanager.v1.SecretManagerService';

for (const {file, names: asked, kept, dropped} of [
  {
    file: '@google-cloud/secret-manager/build/protos/protos.json',
    names: [`${ACCESS}.AccessSecretVersion`],
    kept: [
      ACCESS,
      'google.cloud.secretmanager.v1.AccessSecretVersionRequest',
      'google.cloud.secretmanager.v1.AccessSecretVersionResponse',
      'google.cloud.secretmanager.v1.SecretPayload',
    ],
    dropped: [
      'google.cloud.secretmanager.v1.Secret',
      'google.cloud.secretmanager.v1beta2.SecretManagerService',
      'google.iam.v1.IAMPolicy',
      'google.iam.v1.Policy',
      'google.protobuf.FileDescriptorProto',
      'google.api.Http',
    ],
  },
  {
    file: 'google-gax/build/protos/locations.json',
    names: ['google.cloud.location'],
    kept: null,
    dropped: ['google.protobuf.FileDescriptorProto', 'google.api.Http'],
  },
]) {
  void describe(`${file}, trimmed to ${asked.join(', ')}`, () => {
    const whole = read(file);
    const trimmed = trimProtos(whole, asked);
    const before = fromJSON(whole, OPTIONS);
    const after = fromJSON(trimmed, OPTIONS);

    void test('keeps what was asked for, and only what it reaches', () => {
      if (kept === null) {
        // A namespace: every service and message of it.
        const namespace = asked[0]!;
        assert.deepEqual(names(after, namespace), names(before, namespace));
        assert.ok(names(after, namespace).length > 0);
      } else {
        assert.deepEqual(Object.keys(after).sort(), [...kept].sort());
        assert.deepEqual(Object.keys(after[ACCESS]!), ['AccessSecretVersion']);
      }
    });

    void test('defines everything it keeps as the whole document does', () => {
      for (const name of Object.keys(after)) {
        assert.ok(before[name], `${name} is in the whole document`);
        const service = after[name] as Record<string, unknown>;
        if (name === ACCESS) {
          // A service trimmed to some methods: each as the whole service has it.
          for (const method of Object.keys(service)) {
            assert.deepEqual(
              comparable(service[method]),
              comparable((before[name] as Record<string, unknown>)[method]),
              `${name}.${method}`,
            );
          }
          continue;
        }
        assert.deepEqual(
          comparable(after[name]),
          comparable(before[name]),
          name,
        );
      }
    });

    void test('drops what the names do not reach', () => {
      for (const name of dropped) {
        assert.ok(before[name], `${name} is in the whole document`);
        assert.equal(after[name], undefined, name);
      }
      assert.ok(Object.keys(after).length < Object.keys(before).length);
    });
  });
}

void describe('trimProtos', () => {
  void test('stops on a namespace the document does not have', () => {
    const whole = read('@google-cloud/secret-manager/build/protos/protos.json');
    assert.throws(
      () => trimProtos(whole, ['google.cloud.secretmanager.v9']),
      /no namespace or method google\.cloud\.secretmanager\.v9/,
    );
    assert.throws(
      () => trimProtos(whole, ['google.cloud.secretmanager.v1.Secret']),
      /no namespace or method/,
    );
    assert.throws(
      () => trimProtos(whole, [`${ACCESS}.ReadMyMind`]),
      /no namespace or method/,
    );
  });
});
