/**
 * `npm run emulator`: starts the emulator on loopback with a demo service account,
 * prints its URLs, and runs until SIGINT/SIGTERM.
 *
 * Environment: EMULATOR_HTTP_PORT, EMULATOR_GRPC_PORT (default 0 = ephemeral).
 */
import {startEmulator} from '../src/index.ts';

/** Parses a port from the environment; 0 when unset. */
function port(name: string, env: NodeJS.ProcessEnv): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return 0;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    throw new TypeError(
      `${name} must be a port number, got ${JSON.stringify(raw)}`,
    );
  }
  return value;
}

const emulator = await startEmulator({
  httpPort: port('EMULATOR_HTTP_PORT', process.env),
  grpcPort: port('EMULATOR_GRPC_PORT', process.env),
});
const demo = `tvm-demo@${emulator.state.projectId}.iam.gserviceaccount.com`;
emulator.state.createServiceAccount({email: demo});
emulator.state.setDefaultIdentity(demo);

process.stdout.write(
  [
    'tvm Google emulator running',
    `  HTTP base (IAM Credentials, tokeninfo): ${emulator.url}`,
    `  GCE_METADATA_HOST=${emulator.metadataHost}`,
    `  OAuth2 token URL:                       ${emulator.tokenUrl}`,
    `  Secret Manager (plaintext gRPC):        ${emulator.secretManagerEndpoint}`,
    `  project: ${emulator.state.projectId} (${emulator.state.projectNumber}), metadata identity: ${demo}`,
    'Ctrl-C to stop.',
    '',
  ].join('\n'),
);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void emulator.close().then(() => process.exit(0));
  });
}
