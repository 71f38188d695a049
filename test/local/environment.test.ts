/**
 * The emulator→environment mapping (src/local/environment.ts) points every setting
 * that local mode requires on loopback at a real emulator, names the emulator's
 * project, and local mode accepts it.
 */
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {startEmulator} from '../../emulator/src/index.ts';
import {CONFIG_SETTINGS, parseConfig} from '../../src/config.ts';
import {emulatorEnvironment} from '../../src/local/environment.ts';

void test('the mapping sets local mode and every loopback-only setting, and parses', async () => {
  const emulator = await startEmulator();
  try {
    const env = emulatorEnvironment(emulator);
    assert.deepEqual(
      Object.keys(env).sort(),
      [
        'TVM_LOCAL',
        'GOOGLE_CLOUD_PROJECT',
        ...CONFIG_SETTINGS.filter(s => s.loopbackWhenLocal).map(
          s => s.variable,
        ),
      ].sort(),
    );
    const c = parseConfig(env);
    assert.equal(c.local, true);
    assert.equal(c.metadataHost, emulator.metadataHost);
    assert.equal(c.iamCredentialsEndpoint, emulator.url);
    assert.equal(c.oauth2TokenUrl, emulator.tokenUrl);
    assert.equal(c.secretManagerEndpoint, emulator.secretManagerEndpoint);
    assert.equal(c.stsEndpoint, emulator.url);
    // The emulator's project, whatever the shell names (Cloud Shell sets one).
    assert.equal(c.project, emulator.state.projectId);
    assert.equal(
      parseConfig({GOOGLE_CLOUD_PROJECT: 'someone-elses', ...env}).project,
      'tvm-local',
    );
  } finally {
    await emulator.close();
  }
});
