/** Token type identifiers (RFC 8693 §3) that tvm issues or accepts beyond OIDC's. */

/** What tvm issues: a Google OAuth 2.0 access token. */
export const TOKEN_TYPE_ACCESS_TOKEN =
  'urn:ietf:params:oauth:token-type:access_token';

/**
 * tvm's own subject token type (RFC 8693 §3 allows any URI): the subject token is a
 * tvm API key. It lets an API-key client use Google's external_account mechanism —
 * the key in the credential source file — with no OIDC issuer at all.
 */
export const TOKEN_TYPE_TVM_API_KEY = 'urn:tvm:params:oauth:token-type:api-key';
