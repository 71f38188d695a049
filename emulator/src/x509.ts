/**
 * A self-signed X.509 v3 certificate for the emulator's Google key, in PEM, as Google
 * publishes its ID-token signing keys at https://www.googleapis.com/oauth2/v1/certs
 * (`{"<kid>": "-----BEGIN CERTIFICATE-----…"}`), the format google-auth-library's
 * `OAuth2Client#verifyIdToken` fetches under Node.
 *
 * Written by hand (a few DER encoders) because Node can parse certificates
 * (`crypto.X509Certificate`) but not make one, and no library in the project does; the
 * result is checked with `X509Certificate` in test/emulator/certs.test.ts.
 */
import {createSign, randomBytes, type KeyObject} from 'node:crypto';

/** DER length octets (X.690 §8.1.3). */
function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), length(content.length), content]);
}

const sequence = (...parts: Buffer[]) => tlv(0x30, Buffer.concat(parts));
const set = (...parts: Buffer[]) => tlv(0x31, Buffer.concat(parts));
const NULL = Buffer.from([0x05, 0x00]);

/**
 * A non-negative INTEGER from big-endian bytes, in DER's minimal form (X.690
 * §8.3.2): no redundant leading zero bytes, one zero byte before a set top bit.
 */
function integer(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const minimal = bytes.subarray(start);
  const b =
    minimal[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), minimal]) : minimal;
  return tlv(0x02, b);
}

/** An OBJECT IDENTIFIER from its dotted form (X.690 §8.19). */
function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number) as [
    number,
    number,
    ...number[],
  ];
  const out = [40 * a + b];
  for (const n of rest) {
    const groups: number[] = [];
    for (let v = n; ; v = Math.floor(v / 128)) {
      groups.unshift(v % 128);
      if (v < 128) break;
    }
    out.push(...groups.map((g, i) => (i < groups.length - 1 ? g | 0x80 : g)));
  }
  return tlv(0x06, Buffer.from(out));
}

/** UTCTime (YYMMDDHHMMSSZ), for dates before 2050 (RFC 5280 §4.1.2.5.1). */
function utcTime(ms: number): Buffer {
  const iso = new Date(Math.floor(ms / 1000) * 1000).toISOString();
  const s = iso.slice(2, 19).replace(/[-T:]/g, '') + 'Z';
  return tlv(0x17, Buffer.from(s, 'ascii'));
}

/** A Name with one common name (RFC 5280 §4.1.2.4). */
function commonName(cn: string): Buffer {
  return sequence(set(sequence(oid('2.5.4.3'), tlv(0x0c, Buffer.from(cn)))));
}

/** sha256WithRSAEncryption (RFC 4055 §5). */
const SHA256_WITH_RSA = sequence(oid('1.2.840.113549.1.1.11'), NULL);

/**
 * A self-signed certificate for `key` as PEM: subject and issuer `CN=<cn>`, valid
 * from a day before `nowMs` for `days` days, signed with SHA-256 and RSA.
 */
export function selfSignedCertificate(
  key: {readonly privateKey: KeyObject; readonly publicKey: KeyObject},
  cn: string,
  nowMs: number,
  days = 14,
): string {
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01; // positive, and 16 bytes long
  const tbs = sequence(
    tlv(0xa0, integer(Buffer.from([2]))), // [0] EXPLICIT version v3
    integer(serial),
    SHA256_WITH_RSA,
    commonName(cn),
    sequence(utcTime(nowMs - 86_400_000), utcTime(nowMs + days * 86_400_000)),
    commonName(cn),
    key.publicKey.export({type: 'spki', format: 'der'}),
  );
  const signature = createSign('sha256').update(tbs).sign(key.privateKey);
  const der = sequence(
    tbs,
    SHA256_WITH_RSA,
    tlv(0x03, Buffer.concat([Buffer.from([0]), signature])),
  );
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}
