/**
 * The emulator's self-signed certificates (emulator/src/x509.ts), the PEM its
 * /oauth2/v1/certs serves for verifyIdToken: every one parses as DER, whatever
 * random serial it drew (a serial whose first byte is small once made an INTEGER with
 * an illegal leading zero, about one certificate in 256).
 */
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {X509Certificate, generateKeyPairSync} from 'node:crypto';
import {selfSignedCertificate} from '../../emulator/src/x509.ts';

void test('a thousand certificates in a row all parse, with a 16-byte positive serial', () => {
  const key = generateKeyPairSync('rsa', {modulusLength: 2048});
  const now = Date.parse('2026-12-02T00:00:00Z');
  for (let i = 0; i < 1000; i++) {
    const pem = selfSignedCertificate(key, 'emulator', now);
    const cert = new X509Certificate(pem);
    assert.match(cert.serialNumber, /^[0-9A-F]{32}$/, pem);
    assert.ok(Number.parseInt(cert.serialNumber[0]!, 16) < 8, 'positive');
    assert.ok(cert.verify(key.publicKey), 'self-signed');
    assert.equal(cert.subject, 'CN=emulator');
  }
});
