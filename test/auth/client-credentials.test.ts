/**
 * Reading client authentication from a token request (src/auth/client-credentials.ts,
 * RFC 6749 §2.3, RFC 7523 §2.2) as a table: which method, and the refusals.
 */
import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import {readClientCredentials} from '../../src/auth/client-credentials.ts';
import {TvmError, type TvmErrorCode} from '../../src/errors.ts';

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const b64 = (s: string) => Buffer.from(s).toString('base64');
const params = (o: Record<string, string>) => new Map(Object.entries(o));

void describe('readClientCredentials: accepted', () => {
  const cases: {
    name: string;
    authorization: string | undefined;
    params: Record<string, string>;
    want: unknown;
  }[] = [
    {
      name: 'HTTP Basic, id and secret form-decoded',
      authorization: `Basic ${b64('my%20client:se%3Acret+x')}`,
      params: {},
      want: {method: 'basic', clientId: 'my client', secret: 'se:cret x'},
    },
    {
      name: 'Basic scheme in any case, trailing spaces',
      authorization: `bAsIc ${b64('c:s')}  `,
      params: {client_id: 'c'},
      want: {method: 'basic', clientId: 'c', secret: 's'},
    },
    {
      name: 'client_id and client_secret in the body',
      authorization: undefined,
      params: {client_id: 'c', client_secret: 's'},
      want: {method: 'body', clientId: 'c', secret: 's'},
    },
    {
      name: 'a key read from a file written by echo: the newline is dropped',
      authorization: undefined,
      params: {client_id: 'c', client_secret: 'tvm_key\n'},
      want: {method: 'body', clientId: 'c', secret: 'tvm_key'},
    },
    {
      name: 'Basic with CRLF and spaces around the key',
      authorization: `Basic ${b64('c: tvm_key\r\n')}`,
      params: {},
      want: {method: 'basic', clientId: 'c', secret: 'tvm_key'},
    },
    {
      name: 'whitespace inside a key is kept (and then fails)',
      authorization: undefined,
      params: {client_id: 'c', client_secret: ' tvm_ key\t'},
      want: {method: 'body', clientId: 'c', secret: 'tvm_ key'},
    },
    {
      name: 'an assertion with a trailing newline',
      authorization: undefined,
      params: {
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: 'a.b.c\r\n',
      },
      want: {method: 'assertion', clientId: undefined, assertion: 'a.b.c'},
    },
    {
      name: 'a client assertion, client_id optional',
      authorization: undefined,
      params: {
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: 'a.b.c',
      },
      want: {method: 'assertion', clientId: undefined, assertion: 'a.b.c'},
    },
  ];
  for (const c of cases) {
    void test(c.name, () => {
      assert.deepEqual(
        readClientCredentials(c.authorization, params(c.params)),
        c.want,
      );
    });
  }
});

void describe('readClientCredentials: refused', () => {
  const cases: {
    name: string;
    authorization: string | undefined;
    params: Record<string, string>;
    code: TvmErrorCode;
    message: string;
  }[] = [
    {
      name: 'nothing at all',
      authorization: undefined,
      params: {},
      code: 'ERR_INVALID_CLIENT',
      message: 'client authentication is required',
    },
    {
      name: 'Basic and a body secret',
      authorization: `Basic ${b64('c:s')}`,
      params: {client_id: 'c', client_secret: 's'},
      code: 'ERR_INVALID_REQUEST',
      message: 'use exactly one client authentication method',
    },
    {
      name: 'a body secret and an assertion',
      authorization: undefined,
      params: {
        client_id: 'c',
        client_secret: 's',
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: 'a.b.c',
      },
      code: 'ERR_INVALID_REQUEST',
      message: 'use exactly one client authentication method',
    },
    {
      name: 'client_id in the body differs from Basic',
      authorization: `Basic ${b64('c:s')}`,
      params: {client_id: 'other'},
      code: 'ERR_INVALID_REQUEST',
      message: 'client_id in the body differs from the Basic credentials',
    },
    {
      name: 'client_secret without client_id',
      authorization: undefined,
      params: {client_secret: 's'},
      code: 'ERR_INVALID_REQUEST',
      message: 'client_id is required with client_secret',
    },
    {
      name: 'an assertion of another type',
      authorization: undefined,
      params: {client_assertion_type: 'saml', client_assertion: 'x'},
      code: 'ERR_INVALID_REQUEST',
      message: `client_assertion requires client_assertion_type=${ASSERTION_TYPE}`,
    },
    {
      name: 'an assertion type without the assertion',
      authorization: undefined,
      params: {client_assertion_type: ASSERTION_TYPE},
      code: 'ERR_INVALID_REQUEST',
      message: `client_assertion requires client_assertion_type=${ASSERTION_TYPE}`,
    },
    {
      name: 'a Bearer on the token endpoint',
      authorization: 'Bearer abc',
      params: {},
      code: 'ERR_INVALID_REQUEST',
      message: 'unsupported Authorization scheme on the token endpoint',
    },
    {
      name: 'Basic that is not base64',
      authorization: 'Basic !!!',
      params: {},
      code: 'ERR_INVALID_CLIENT',
      message: 'malformed Basic credentials',
    },
    {
      name: 'Basic without a colon',
      authorization: `Basic ${b64('nocolon')}`,
      params: {},
      code: 'ERR_INVALID_CLIENT',
      message: 'malformed Basic credentials',
    },
    {
      name: 'Basic with a broken percent-escape',
      authorization: `Basic ${b64('c:%E0%A4%A')}`,
      params: {},
      code: 'ERR_INVALID_CLIENT',
      message: 'malformed Basic credentials',
    },
    {
      name: 'Basic with an empty secret',
      authorization: `Basic ${b64('c:')}`,
      params: {},
      code: 'ERR_INVALID_CLIENT',
      message: 'client authentication failed',
    },
    {
      name: 'a body secret over 512 characters',
      authorization: undefined,
      params: {client_id: 'c', client_secret: 's'.repeat(513)},
      code: 'ERR_INVALID_CLIENT',
      message: 'client authentication failed',
    },
  ];
  for (const c of cases) {
    void test(c.name, () => {
      assert.throws(
        () => readClientCredentials(c.authorization, params(c.params)),
        (e: unknown) =>
          e instanceof TvmError && e.code === c.code && e.message === c.message,
      );
    });
  }
});
