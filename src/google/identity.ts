/**
 * The function's own Google identity, the one that impersonates target service
 * accounts and reads Secret Manager. On Cloud Functions it is the metadata server's
 * default service account; with GCE_METADATA_HOST set (local mode, tests, any
 * metadata-compatible host) it is that server's, asked directly so that no stray
 * gcloud credential on the machine is picked up instead.
 */
import {Compute, GoogleAuth, type AuthClient} from 'google-auth-library';

const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';

/**
 * Builds the AuthClient for tvm's own identity. Does no I/O until first used.
 * `metadataHost`: GCE_METADATA_HOST, when set.
 */
export async function createIdentity(options: {
  readonly metadataHost: string | undefined;
}): Promise<AuthClient> {
  if (options.metadataHost) {
    return new Compute({scopes: [CLOUD_PLATFORM]});
  }
  return new GoogleAuth({scopes: [CLOUD_PLATFORM]}).getClient();
}
