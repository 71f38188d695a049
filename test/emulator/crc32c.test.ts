import assert from 'node:assert/strict';
import {test} from 'node:test';
import {crc32c} from '../../src/google/crc32c.ts';

const enc = (s: string) => new TextEncoder().encode(s);

void test('crc32c matches the standard check values', () => {
  const cases: Array<{name: string; input: Uint8Array; want: number}> = [
    {
      name: 'check value "123456789"',
      input: enc('123456789'),
      want: 0xe3069283,
    },
    {name: 'empty input', input: new Uint8Array(), want: 0},
    {
      name: '32 zero bytes (RFC 3720 B.4)',
      input: new Uint8Array(32),
      want: 0x8a9136aa,
    },
    {
      name: '32 0xFF bytes (RFC 3720 B.4)',
      input: new Uint8Array(32).fill(0xff),
      want: 0x62a8ab43,
    },
  ];
  for (const c of cases) assert.equal(crc32c(c.input), c.want, c.name);
});
