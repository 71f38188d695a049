/**
 * Google's public endpoints tvm talks to: the defaults of the endpoint settings in
 * src/config.ts, and the token URL google-auth-library hard-codes (src/google/oauth2.ts).
 */
export const GOOGLE_ENDPOINTS = Object.freeze({
  iamCredentials: 'https://iamcredentials.googleapis.com',
  oauth2Token: 'https://oauth2.googleapis.com/token',
  secretManager: 'https://secretmanager.googleapis.com',
  sts: 'https://sts.googleapis.com',
});
