/**
 * The function's own Google identity, the one that impersonates target service
 * accounts and reads Secret Manager. On Cloud Functions it is the metadata server's
 * default service account; with GCE_METADATA_HOST set (local mode, tests, any
 * metadata-compatible host) it is that server's, asked directly so that no stray
 * gcloud credential on the machine is picked up instead.
 */
import {
  Compute,
  GoogleAuth,
  gaxios,
  type AuthClient,
} from 'google-auth-library';

import {fetchImplementation} from './fetch.ts';

const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';

/**
 * gcp-metadata (the metadata server's token and project id) uses gaxios's shared
 * instance: this points it at Node's fetch too. Called before the first such request.
 */
export function useNodeFetch(): void {
  gaxios.instance.defaults.fetchImplementation ??= fetchImplementation;
}

/**
 * Builds the AuthClient for tvm's own identity. Does no I/O until first used.
 * `metadataHost`: GCE_METADATA_HOST, when set.
 */
export async function createIdentity(options: {
  readonly metadataHost: string | undefined;
}): Promise<AuthClient> {
  useNodeFetch();
  const transporterOptions = {fetchImplementation};
  if (options.metadataHost) {
    return new Compute({scopes: [CLOUD_PLATFORM], transporterOptions});
  }
  return new GoogleAuth({
    scopes: [CLOUD_PLATFORM],
    clientOptions: {transporterOptions},
  }).getClient();
}
