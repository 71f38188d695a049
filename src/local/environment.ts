/**
 * The one mapping from a running emulator to the environment that points tvm at it:
 * local mode on, every Google endpoint tvm reads (src/config.ts) on the emulator, and
 * the emulator's project as the function's (whatever project the shell names).
 * `npm start` (scripts/start.ts), the test harness and the benchmark all use it.
 */
import type {Emulator} from '../../emulator/src/index.ts';
import type {ConfigVariable} from '../config.ts';

/** The variables that make tvm talk to `emulator` only. */
export function emulatorEnvironment(
  emulator: Pick<
    Emulator,
    'url' | 'metadataHost' | 'tokenUrl' | 'secretManagerEndpoint'
  > & {readonly state: {readonly projectId: string}},
): Readonly<Partial<Record<ConfigVariable, string>>> {
  return Object.freeze({
    TVM_LOCAL: '1',
    GOOGLE_CLOUD_PROJECT: emulator.state.projectId,
    GCE_METADATA_HOST: emulator.metadataHost,
    TVM_IAM_CREDENTIALS_ENDPOINT: emulator.url,
    TVM_OAUTH2_TOKEN_URL: emulator.tokenUrl,
    TVM_SECRET_MANAGER_ENDPOINT: emulator.secretManagerEndpoint,
    TVM_STS_ENDPOINT: emulator.url,
  });
}
