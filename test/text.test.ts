/** The safe-string helpers of src/text.ts: their exact outputs, as a table each. */

import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {
  callerString,
  printable,
  redactCredentials,
  safeName,
  shown,
} from '../src/text.ts';

const x = (n: number) => 'x'.repeat(n);

void describe('printable: policy text in a load-time message', () => {
  const cases: Array<[string, string, string]> = [
    ['plain', 'bigquery.readonly', 'bigquery.readonly'],
    ['quotes and backslashes escaped', 'a"b\\c', 'a\\"b\\\\c'],
    ['control characters escaped', 'a\r\nb\u0007', 'a\\r\\nb\\u0007'],
    ['80 characters kept', x(80), x(80)],
    ['81 cut to 77 and ...', x(81), `${x(77)}...`],
    ['the bound counts escapes', `${x(79)}\n`, `${x(77)}...`],
    ['non-ASCII kept', 'issuer-ä', 'issuer-ä'],
  ];
  for (const [name, input, want] of cases) {
    void test(name, () => assert.equal(printable(input), want));
  }
});

void describe('shown: a caller-supplied value in a refusal message', () => {
  const cases: Array<[string, unknown, string]> = [
    ['a string, quoted', 'repo:org/app', '"repo:org/app"'],
    ['a number as its JSON', 42, '"42"'],
    ['an object as its JSON', {x: 1}, '"{\\"x\\":1}"'],
    ['an array as its JSON', ['a', 'b'], '"[\\"a\\",\\"b\\"]"'],
    ['undefined', undefined, '"undefined"'],
    ['null', null, '"null"'],
    ['control characters escaped', 'a\nb\u0007"c', '"a\\nb\\u0007\\"c"'],
    ['120 characters kept', x(120), `"${x(120)}"`],
    ['121 cut to 120 and …', x(121), `"${x(120)}…"`],
    ['the cut is before escaping', `${x(119)}\n\n`, `"${x(119)}\\n…"`],
  ];
  for (const [name, input, want] of cases) {
    void test(name, () => assert.equal(shown(input), want));
  }
});

void describe('callerString: a caller-supplied string for a log field', () => {
  const cases: Array<[string, string | undefined, string | undefined]> = [
    ['undefined stays undefined', undefined, undefined],
    ['plain, not quoted', 'curl/8.0', 'curl/8.0'],
    ['empty', '', ''],
    ['control characters escaped', 'a\r\nb"', 'a\\r\\nb\\"'],
    ['128 characters kept', x(128), x(128)],
    ['129 cut to 128 and …', x(129), `${x(128)}…`],
    ['the cut is before escaping', `${x(127)}\n\n`, `${x(127)}\\n…`],
  ];
  for (const [name, input, want] of cases) {
    void test(name, () => assert.equal(callerString(input), want));
  }
});

void describe('safeName: a parameter name echoed back', () => {
  const cases: Array<[string, string, string]> = [
    ['printable ASCII kept', 'grant_type', 'grant_type'],
    ['64 characters kept', x(64), x(64)],
    ['65 refused', x(65), '(unprintable)'],
    ['empty refused', '', '(unprintable)'],
    ['a space refused', 'a b', '(unprintable)'],
    ['a control character refused', 'a\nb', '(unprintable)'],
    ['non-ASCII refused', 'ä', '(unprintable)'],
  ];
  for (const [name, input, want] of cases) {
    void test(name, () => assert.equal(safeName(input), want));
  }
});

void describe('redactCredentials: nothing shaped like a credential is kept', () => {
  const key = `tvm_${'A'.repeat(43)}`;
  const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';
  const cases: Array<[string, string, string]> = [
    ['an API key', key, '[redacted]'],
    ['an API key inside text', `client ${key}!`, 'client [redacted]!'],
    ['a Google access token', 'ya29.a0AfB_byC-xyz', '[redacted]'],
    ['a JWT', jwt, '[redacted]'],
    [
      'a JWT without a signature',
      'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.',
      '[redacted]',
    ],
    ['a bearer value', 'Bearer abcdefghijkl', '[redacted]'],
    ['a Basic value', 'basic dXNlcjpwYXNzd29yZA==', '[redacted]'],
    ['a PEM header', '-----BEGIN PRIVATE KEY-----', '[redacted]'],
    [
      'an email stays',
      'reporting@tvm-local.iam.gserviceaccount.com',
      'reporting@tvm-local.iam.gserviceaccount.com',
    ],
    [
      'an issuer URL stays',
      'https://token.actions.githubusercontent.com',
      'https://token.actions.githubusercontent.com',
    ],
    [
      'a GitHub sub stays',
      'repo:org/app:ref:refs/heads/main',
      'repo:org/app:ref:refs/heads/main',
    ],
    [
      'a user agent stays',
      'google-api-nodejs-client/11.3.4',
      'google-api-nodejs-client/11.3.4',
    ],
  ];
  for (const [name, input, want] of cases) {
    void test(name, () => assert.equal(redactCredentials(input), want));
  }
});
