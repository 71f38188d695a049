/**
 * RSA keys: service-account keys in Google's key-file format, and the emulator's own
 * "Google" signing keys (ID tokens, signJwt) with the JWKS that publishes them.
 */
import {
  generateKeyPair,
  generateKeyPairSync,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import {promisify} from 'node:util';
import {SignJWT, type JWK, type JWTPayload} from 'jose';

/** Google's service-account key JSON, field for field. */
export interface ServiceAccountKeyFile {
  type: 'service_account';
  project_id: string;
  private_key_id: string;
  private_key: string;
  client_email: string;
  client_id: string;
  auth_uri: string;
  token_uri: string;
  auth_provider_x509_cert_url: string;
  client_x509_cert_url: string;
  universe_domain: string;
}

/** A signing key: private half kept by the emulator, public half published. */
export interface SigningKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

const generateKeyPairAsync = promisify(generateKeyPair);

/** A key id like Google's: 40 lowercase hex characters. */
export function newKeyId(): string {
  return randomBytes(20).toString('hex');
}

/**
 * A fresh RSA-2048 key pair, synchronously. Key generation blocks for ~50-100 ms;
 * it only happens when a test or the local mode provisions a key.
 */
export function generateSigningKeySync(): SigningKey {
  const {privateKey, publicKey} = generateKeyPairSync('rsa', {
    modulusLength: 2048,
  });
  return {kid: newKeyId(), privateKey, publicKey};
}

/** A fresh RSA-2048 key pair without blocking the event loop. */
export async function generateSigningKey(): Promise<SigningKey> {
  const {privateKey, publicKey} = await generateKeyPairAsync('rsa', {
    modulusLength: 2048,
  });
  return {kid: newKeyId(), privateKey, publicKey};
}

/** Google's key-file JSON for a service-account key (private key as PKCS#8 PEM). */
export function keyFile(
  key: SigningKey,
  account: {email: string; uniqueId: string; projectId: string},
  tokenUri: string,
): ServiceAccountKeyFile {
  return {
    type: 'service_account',
    project_id: account.projectId,
    private_key_id: key.kid,
    private_key: key.privateKey
      .export({type: 'pkcs8', format: 'pem'})
      .toString(),
    client_email: account.email,
    client_id: account.uniqueId,
    auth_uri: 'https://accounts.google.com/o/oauth2/auth',
    token_uri: tokenUri,
    auth_provider_x509_cert_url: 'https://www.googleapis.com/oauth2/v1/certs',
    client_x509_cert_url: `https://www.googleapis.com/robot/v1/metadata/x509/${encodeURIComponent(account.email)}`,
    universe_domain: 'googleapis.com',
  };
}

/** The public half as a JWK with `kid`, `alg` and `use`, as Google's JWKS lists it. */
export function publicJwk(kid: string, publicKey: KeyObject): JWK {
  const jwk = publicKey.export({format: 'jwk'});
  return {kty: 'RSA', n: jwk.n, e: jwk.e, kid, alg: 'RS256', use: 'sig'};
}

/** Signs `claims` as a compact RS256 JWS with `kid` and `typ: JWT` in the header. */
export function signJwt(claims: JWTPayload, key: SigningKey): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({alg: 'RS256', kid: key.kid, typ: 'JWT'})
    .sign(key.privateKey);
}
