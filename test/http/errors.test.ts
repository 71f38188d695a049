/**
 * The one mapping from the error model (src/errors.ts) to the wire
 * (src/http/errors.ts), as a table: every code has a status, an OAuth 2.0 error and a
 * Google status; what the caller reads; the headers; and the README's error table is
 * the one generated from the same model.
 */
import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import {describe, test} from 'node:test';
import type {ServerResponse} from 'node:http';
import {
  JwtRejected,
  KeysUnavailable,
  PolicyError,
  ConfigError,
  REFUSALS,
  TvmError,
  type TvmErrorCode,
} from '../../src/errors.ts';
import {WIRE, sendGoogleError, sendOAuthError} from '../../src/http/errors.ts';
import {withErrorTable} from '../../scripts/errors-table.ts';

/** Records what a mapper writes: status, headers, JSON body. */
function recorder() {
  const out = {
    status: 0,
    headers: new Map<string, string | number>(),
    body: undefined as unknown,
  };
  const res = {
    setHeader(name: string, value: string | number) {
      out.headers.set(name.toLowerCase(), value);
      return res;
    },
    set statusCode(s: number) {
      out.status = s;
    },
    end(text: string) {
      out.body = JSON.parse(text);
      assert.equal(
        out.headers.get('content-length'),
        Buffer.byteLength(text),
        'Content-Length is the byte length of the body',
      );
      assert.equal(
        out.headers.get('content-type'),
        'application/json; charset=utf-8',
      );
    },
  };
  return {res: res as unknown as ServerResponse, out};
}

void describe('error mapping: every code', () => {
  const table: [TvmErrorCode, number, string, number, string][] = [
    ['ERR_INVALID_REQUEST', 400, 'invalid_request', 400, 'INVALID_ARGUMENT'],
    [
      'ERR_UNSUPPORTED_GRANT_TYPE',
      400,
      'unsupported_grant_type',
      400,
      'INVALID_ARGUMENT',
    ],
    [
      'ERR_UNSUPPORTED_MEDIA_TYPE',
      415,
      'invalid_request',
      415,
      'INVALID_ARGUMENT',
    ],
    ['ERR_PAYLOAD_TOO_LARGE', 413, 'invalid_request', 413, 'INVALID_ARGUMENT'],
    ['ERR_INVALID_CLIENT', 401, 'invalid_client', 401, 'UNAUTHENTICATED'],
    ['ERR_INVALID_GRANT', 400, 'invalid_grant', 401, 'UNAUTHENTICATED'],
    ['ERR_JWT_REJECTED', 400, 'invalid_grant', 401, 'UNAUTHENTICATED'],
    [
      'ERR_KEYS_UNAVAILABLE',
      503,
      'temporarily_unavailable',
      503,
      'UNAVAILABLE',
    ],
    ['ERR_INVALID_TARGET', 403, 'invalid_target', 403, 'PERMISSION_DENIED'],
    ['ERR_INVALID_SCOPE', 400, 'invalid_scope', 400, 'INVALID_ARGUMENT'],
    ['ERR_RATE_LIMITED', 429, 'slow_down', 429, 'RESOURCE_EXHAUSTED'],
    [
      'ERR_UPSTREAM_REFUSED',
      502,
      'temporarily_unavailable',
      502,
      'UNAVAILABLE',
    ],
    [
      'ERR_UPSTREAM_UNAVAILABLE',
      503,
      'temporarily_unavailable',
      503,
      'UNAVAILABLE',
    ],
    [
      'ERR_USER_CREDENTIAL_REFUSED',
      502,
      'temporarily_unavailable',
      502,
      'UNAVAILABLE',
    ],
    [
      'ERR_POLICY_UNAVAILABLE',
      503,
      'temporarily_unavailable',
      503,
      'UNAVAILABLE',
    ],
    ['ERR_POLICY_INVALID', 503, 'temporarily_unavailable', 503, 'UNAVAILABLE'],
    ['ERR_CONFIG_INVALID', 500, 'server_error', 500, 'INTERNAL'],
    ['ERR_NOT_FOUND', 404, 'not_found', 404, 'NOT_FOUND'],
    [
      'ERR_METHOD_NOT_ALLOWED',
      405,
      'method_not_allowed',
      405,
      'INVALID_ARGUMENT',
    ],
    ['ERR_INTERNAL', 500, 'server_error', 500, 'INTERNAL'],
  ];

  void test('the table covers exactly the codes of the model', () => {
    assert.deepEqual(table.map(r => r[0]).sort(), Object.keys(REFUSALS).sort());
    assert.deepEqual(Object.keys(WIRE).sort(), Object.keys(REFUSALS).sort());
  });

  for (const [code, status, oauth, gStatus, gName] of table) {
    void test(`${code}: ${status} ${oauth} / ${gStatus} ${gName}`, () => {
      const e = new TvmError(code, `message of ${code}`, {
        detail: 'secret-ish',
      });
      const o = recorder();
      assert.equal(sendOAuthError(o.res, e, false), status);
      assert.equal(o.out.status, status);
      const own = ![
        'ERR_INTERNAL',
        'ERR_CONFIG_INVALID',
        'ERR_POLICY_INVALID',
      ].includes(code);
      assert.deepEqual(o.out.body, {
        error: oauth,
        error_description: own
          ? `message of ${code}`
          : 'the server failed to handle the request',
      });
      assert.equal(o.out.headers.get('cache-control'), 'no-store');
      assert.equal(o.out.headers.get('pragma'), 'no-cache');

      const g = recorder();
      assert.equal(sendGoogleError(g.res, e), gStatus);
      assert.deepEqual(g.out.body, {
        error: {
          code: gStatus,
          message: own ? `message of ${code}` : 'Internal error encountered.',
          status: gName,
        },
      });
      assert.equal(
        g.out.headers.get('www-authenticate'),
        gStatus === 401 ? 'Bearer realm="tvm"' : undefined,
      );
      // The operator's detail never reaches the caller.
      assert.doesNotMatch(
        JSON.stringify([o.out.body, g.out.body]),
        /secret-ish/,
      );
    });
  }
});

void describe('error mapping: headers and foreign errors', () => {
  void test('a refused client that used Basic is told the scheme', () => {
    const o = recorder();
    sendOAuthError(o.res, new TvmError('ERR_INVALID_CLIENT', 'no'), true);
    assert.equal(o.out.headers.get('www-authenticate'), 'Basic realm="tvm"');
    const n = recorder();
    sendOAuthError(n.res, new TvmError('ERR_INVALID_CLIENT', 'no'), false);
    assert.equal(n.out.headers.get('www-authenticate'), undefined);
    const other = recorder();
    sendOAuthError(other.res, new TvmError('ERR_INVALID_GRANT', 'no'), true);
    assert.equal(other.out.headers.get('www-authenticate'), undefined);
  });

  void test('Retry-After: whole seconds, at least 1', () => {
    for (const [given, want] of [
      [0.2, '1'],
      [2, '2'],
      [4.1, '5'],
    ] as const) {
      const o = recorder();
      sendOAuthError(
        o.res,
        new TvmError('ERR_UPSTREAM_UNAVAILABLE', 'later', {
          retryAfterSeconds: given,
        }),
        false,
      );
      assert.equal(o.out.headers.get('retry-after'), want);
    }
    const none = recorder();
    sendOAuthError(none.res, new TvmError('ERR_INVALID_REQUEST', 'x'), false);
    assert.equal(none.out.headers.get('retry-after'), undefined);
  });

  void test('anything foreign is a 500 that says nothing from inside', () => {
    for (const e of [new TypeError('inside detail'), 'a string', undefined]) {
      const o = recorder();
      assert.equal(sendOAuthError(o.res, e, false), 500);
      assert.deepEqual(o.out.body, {
        error: 'server_error',
        error_description: 'the server failed to handle the request',
      });
      const g = recorder();
      assert.equal(sendGoogleError(g.res, e), 500);
      assert.deepEqual(g.out.body, {
        error: {
          code: 500,
          message: 'Internal error encountered.',
          status: 'INTERNAL',
        },
      });
    }
  });

  void test('every refusal class of the model is a TvmError with its code', () => {
    assert.equal(new JwtRejected('expired', 'm').code, 'ERR_JWT_REJECTED');
    assert.equal(new KeysUnavailable('d').code, 'ERR_KEYS_UNAVAILABLE');
    assert.equal(new KeysUnavailable('d').retryAfterSeconds, 5);
    assert.equal(new PolicyError([]).code, 'ERR_POLICY_INVALID');
    assert.equal(new ConfigError('PORT', 'bad').code, 'ERR_CONFIG_INVALID');
    for (const e of [
      new JwtRejected('expired', 'm'),
      new KeysUnavailable('d'),
      new PolicyError([]),
      new ConfigError('PORT', 'bad'),
    ]) {
      assert.ok(e instanceof TvmError);
      // No HTTP detail inside the model: the wire mapping owns headers.
      assert.ok(!('basicChallenge' in e) && !('allow' in e));
    }
  });
});

void test("the README's error table is the one generated from the model", () => {
  const readme = readFileSync(
    new URL('../../README.md', import.meta.url),
    'utf8',
  );
  assert.equal(
    readme,
    withErrorTable(readme),
    'README.md is stale: run node scripts/errors-table.ts --write',
  );
});
