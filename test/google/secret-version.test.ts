/** The one Secret Manager version-name parser (src/google/secret-version.ts). */
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {parseSecretVersionName} from '../../src/google/secret-version.ts';

const good: [string, string, string, number | undefined][] = [
  ['projects/p/secrets/s/versions/1', 'projects/p/secrets/s', '1', 1],
  [
    'projects/123456789012/secrets/api_key-2/versions/latest',
    'projects/123456789012/secrets/api_key-2',
    'latest',
    undefined,
  ],
  [
    'projects/my-proj/secrets/etl-sa-key/versions/prod_1',
    'projects/my-proj/secrets/etl-sa-key',
    'prod_1',
    undefined,
  ],
  [
    'projects/p/secrets/s/versions/123456789012345',
    'projects/p/secrets/s',
    '123456789012345',
    123456789012345,
  ],
];
for (const [name, secret, version, number] of good) {
  void test(`parsed: ${name}`, () => {
    assert.deepEqual(parseSecretVersionName(name), {
      name,
      secret,
      version,
      number,
    });
  });
}

const bad = [
  '',
  'projects/p/secrets/s',
  'projects/p/secrets/s/versions/',
  'projects/p/secrets/s/versions/0',
  'projects/p/secrets/s/versions/01',
  'projects/p/secrets/s/versions/1/extra',
  'projects/P/secrets/s/versions/1',
  'projects/p_p/secrets/s/versions/1',
  'projects/p/secrets/s.t/versions/1',
  'projects/p/secrets/s/versions/-alias',
  '/projects/p/secrets/s/versions/1',
  'projects//secrets/s/versions/1',
  ' projects/p/secrets/s/versions/1',
  'folders/p/secrets/s/versions/1',
];
for (const name of bad) {
  void test(`refused: ${JSON.stringify(name)}`, () => {
    assert.equal(parseSecretVersionName(name), undefined);
  });
}
