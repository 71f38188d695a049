import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {compileSourceRange} from '../../src/policy/cidr.ts';
import {parseDuration, parseGrantLifetime} from '../../src/policy/duration.ts';
import {parseExpiry} from '../../src/policy/expiry.ts';
import {normalizeScope} from '../../src/policy/scope.ts';
import {formatPath} from '../../src/policy/issues.ts';
import {expandScope} from '../../src/policy/index.ts';

void describe('source ranges: contains()', () => {
  const cases: Array<{
    name: string;
    input: [cidr: string, address: string];
    want: boolean;
  }> = [
    {
      name: 'IPv4 inside',
      input: ['203.0.113.0/24', '203.0.113.77'],
      want: true,
    },
    {
      name: 'IPv4 first address',
      input: ['203.0.113.0/24', '203.0.113.0'],
      want: true,
    },
    {
      name: 'IPv4 outside',
      input: ['203.0.113.0/24', '203.0.114.1'],
      want: false,
    },
    {
      name: 'IPv4 /32 exact',
      input: ['198.51.100.7/32', '198.51.100.7'],
      want: true,
    },
    {
      name: 'IPv4 /32 other',
      input: ['198.51.100.7/32', '198.51.100.8'],
      want: false,
    },
    {name: 'IPv4 /0 any IPv4', input: ['0.0.0.0/0', '8.8.8.8'], want: true},
    {
      name: 'IPv4 /0 not IPv6',
      input: ['0.0.0.0/0', '2001:db8::1'],
      want: false,
    },
    {
      name: 'IPv4-mapped IPv6 inside',
      input: ['203.0.113.0/24', '::ffff:203.0.113.9'],
      want: true,
    },
    {
      name: 'IPv4-mapped IPv6 hex form inside',
      input: ['203.0.113.0/24', '::ffff:cb00:7109'],
      want: true,
    },
    {
      name: 'IPv4-mapped IPv6 outside',
      input: ['203.0.113.0/24', '::ffff:10.0.0.1'],
      want: false,
    },
    {
      name: 'IPv6 inside',
      input: ['2001:db8::/32', '2001:db8:1234::5'],
      want: true,
    },
    {
      name: 'IPv6 upper case',
      input: ['2001:db8::/32', '2001:DB8::5'],
      want: true,
    },
    {
      name: 'IPv6 outside',
      input: ['2001:db8::/32', '2001:db9::1'],
      want: false,
    },
    {
      name: 'IPv6 range, IPv4 address',
      input: ['::/0', '10.0.0.1'],
      want: false,
    },
    {name: 'garbage address', input: ['0.0.0.0/0', 'not-an-ip'], want: false},
    {name: 'empty address', input: ['0.0.0.0/0', ''], want: false},
    {
      name: 'non-canonical IPv4 refused',
      input: ['0.0.0.0/0', '3232235777'],
      want: false,
    },
  ];
  for (const {name, input, want} of cases) {
    void test(name, () => {
      const r = compileSourceRange(input[0]);
      assert.ok(r.ok, input[0]);
      assert.equal(r.value.contains(input[1]), want);
    });
  }

  const refused: Array<{name: string; input: string; want: RegExp}> = [
    {
      name: 'host bits set',
      input: '10.1.2.3/8',
      want: /did you mean 10\.0\.0\.0\/8/,
    },
    {
      name: 'IPv6 host bits set',
      input: '2001:db8::1/32',
      want: /did you mean 2001:db8::\/32/,
    },
    {name: 'bare IPv6 address', input: '2001:db8::1', want: /\/128/},
    {name: 'mapped range', input: '::ffff:10.0.0.0/104', want: /IPv4-mapped/},
    {name: 'zone index', input: 'fe80::%eth0/64', want: /zone/},
    {
      name: 'prefix too long',
      input: '2001:db8::/129',
      want: /not a valid CIDR/,
    },
    {name: 'hostname', input: 'example.com/24', want: /not a valid CIDR/},
  ];
  for (const {name, input, want} of refused) {
    void test(`refused: ${name}`, () => {
      const r = compileSourceRange(input);
      assert.equal(r.ok, false);
      assert.match(r.ok ? '' : r.message, want);
    });
  }

  void test('cidr is canonical', () => {
    const r = compileSourceRange('2001:0DB8:0000::/48');
    assert.ok(r.ok);
    assert.equal(r.value.cidr, '2001:db8::/48');
    assert.ok(Object.isFrozen(r.value));
  });
});

void describe('durations', () => {
  const cases: Array<{
    name: string;
    input: number | string;
    want: number | undefined;
  }> = [
    {name: 'integer seconds', input: 900, want: 900},
    {name: 'digit string', input: '900', want: 900},
    {name: 'seconds unit', input: '90s', want: 90},
    {name: 'minutes', input: '15m', want: 900},
    {name: 'hours', input: '1h', want: 3600},
    {name: 'hours and minutes', input: '1h30m', want: 5400},
    {name: 'all units', input: '1h1m1s', want: 3661},
    {name: 'minutes over 60', input: '90m', want: 5400},
    {name: 'empty', input: '', want: undefined},
    {name: 'units out of order', input: '30m1h', want: undefined},
    {name: 'space', input: '1h 30m', want: undefined},
    {name: 'fraction', input: '1.5h', want: undefined},
    {name: 'days', input: '1d', want: undefined},
    {name: 'upper case', input: '15M', want: undefined},
    {name: 'negative number', input: -5, want: undefined},
    {name: 'fractional number', input: 1.5, want: undefined},
  ];
  for (const {name, input, want} of cases) {
    void test(name, () => {
      const r = parseDuration(input);
      assert.deepEqual(r.ok ? r.value : undefined, want);
    });
  }

  const lifetimes: Array<{
    name: string;
    input: string;
    want: number | undefined;
  }> = [
    {name: 'minimum 60s', input: '1m', want: 60},
    {name: 'under minimum', input: '59s', want: undefined},
    {name: 'maximum 12h', input: '12h', want: 43200},
    {name: 'over maximum', input: '12h0m1s', want: undefined},
  ];
  for (const {name, input, want} of lifetimes) {
    void test(`grant lifetime: ${name}`, () => {
      const r = parseGrantLifetime(input);
      assert.deepEqual(r.ok ? r.value : undefined, want);
    });
  }
});

void describe('scopes', () => {
  const A = 'https://www.googleapis.com/auth/';
  const cases: Array<{name: string; input: string; want: string | undefined}> =
    [
      {name: 'short name', input: 'cloud-platform', want: `${A}cloud-platform`},
      {
        name: 'dotted short name',
        input: 'bigquery.readonly',
        want: `${A}bigquery.readonly`,
      },
      {
        name: 'underscore',
        input: 'devstorage.read_only',
        want: `${A}devstorage.read_only`,
      },
      {
        name: 'full URL',
        input: `${A}cloud-platform.read-only`,
        want: `${A}cloud-platform.read-only`,
      },
      {name: 'other host', input: 'https://mail.google.com/', want: undefined},
      {
        name: 'http',
        input: 'http://www.googleapis.com/auth/cloud-platform',
        want: undefined,
      },
      {name: 'path traversal', input: `${A}../x`, want: undefined},
      {name: 'space', input: 'a b', want: undefined},
      {name: 'quote', input: 'a"b', want: undefined},
      {name: 'newline', input: 'a\nb', want: undefined},
      {name: 'empty', input: '', want: undefined},
      {name: 'URL prefix only', input: A, want: undefined},
    ];
  for (const {name, input, want} of cases) {
    void test(name, () => {
      const r = normalizeScope(input);
      assert.equal(r.ok ? r.value : undefined, want);
    });
  }
  void test('expandScope leaves full URLs alone', () => {
    assert.equal(expandScope(`${A}x`), `${A}x`);
    assert.equal(expandScope('x'), `${A}x`);
  });
});

void describe('key expiry', () => {
  const cases: Array<{name: string; input: string; want: string | undefined}> =
    [
      {
        name: 'date: 00:00 UTC that day',
        input: '2027-06-30',
        want: '2027-06-30T00:00:00.000Z',
      },
      {name: 'leap day', input: '2028-02-29', want: '2028-02-29T00:00:00.000Z'},
      {name: 'not a leap year', input: '2027-02-29', want: undefined},
      {name: 'month 13', input: '2027-13-01', want: undefined},
      {
        name: 'UTC timestamp',
        input: '2027-06-30T12:34:56Z',
        want: '2027-06-30T12:34:56.000Z',
      },
      {
        name: 'lower-case t and z',
        input: '2027-06-30t12:34:56z',
        want: '2027-06-30T12:34:56.000Z',
      },
      {
        name: 'offset timestamp',
        input: '2027-06-30T12:00:00-05:30',
        want: '2027-06-30T17:30:00.000Z',
      },
      {
        name: 'fraction',
        input: '2027-06-30T12:00:00.25Z',
        want: '2027-06-30T12:00:00.250Z',
      },
      {name: 'no offset', input: '2027-06-30T12:00:00', want: undefined},
      {name: 'leap second', input: '2027-06-30T23:59:60Z', want: undefined},
      {name: 'hour 24', input: '2027-06-30T24:00:00Z', want: undefined},
      {name: 'other format', input: '06/30/2027', want: undefined},
      {
        name: 'a two-digit-era year (would read as 1999)',
        input: '0099-01-01',
        want: undefined,
      },
      {
        name: 'a year before 2000, timestamp',
        input: '1999-12-31T00:00:00Z',
        want: undefined,
      },
    ];
  for (const {name, input, want} of cases) {
    void test(name, () => {
      const r = parseExpiry(input);
      assert.equal(r.ok ? new Date(r.value).toISOString() : undefined, want);
    });
  }
});

void describe('expiry messages say what is wrong, for every bad year', () => {
  const cases: Array<{input: string; message: string}> = [
    {
      input: '1999-12-31',
      message: '"1999-12-31" is before the year 2000: surely a typo',
    },
    {
      input: '0099-01-01',
      message: '"0099-01-01" is before the year 2000: surely a typo',
    },
    {
      input: '1999-12-31T00:00:00Z',
      message: '"1999-12-31T00:00:00Z" is before the year 2000: surely a typo',
    },
    {input: '2026-02-30', message: '"2026-02-30" is not a calendar date'},
    {input: '2027-13-01', message: '"2027-13-01" is not a calendar date'},
    {
      input: '2027-02-29T00:00:00Z',
      message: '"2027-02-29T00:00:00Z" is not a valid RFC 3339 timestamp',
    },
    {
      input: '10000-01-01',
      message:
        '"10000-01-01" is not a date (2027-06-30) or an RFC 3339 timestamp with offset (2027-06-30T12:00:00Z)',
    },
  ];
  for (const {input, message} of cases) {
    void test(input, () => {
      const r = parseExpiry(input);
      assert.equal(r.ok ? 'accepted' : r.message, message);
    });
  }
});

void describe('issue paths', () => {
  const cases: Array<{
    name: string;
    input: Array<string | number>;
    want: string;
  }> = [
    {name: 'root', input: [], want: ''},
    {
      name: 'keys and indices',
      input: ['clients', 'nightly-export', 'allow', 0, 'scopes', 1],
      want: 'clients.nightly-export.allow[0].scopes[1]',
    },
    {
      name: 'key with a dot',
      input: ['clients', 'my.client', 'allow'],
      want: 'clients["my.client"].allow',
    },
    {
      name: '__proto__',
      input: ['clients', '__proto__'],
      want: 'clients.__proto__',
    },
  ];
  for (const {name, input, want} of cases) {
    void test(name, () => assert.equal(formatPath(input), want));
  }
});
