/**
 * Starting and closing the whole emulator leaves no open handles, even with a hung
 * HTTP request, a hung gRPC call and a pending delay at close time.
 */
import './helpers.ts';
import assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import {fileURLToPath} from 'node:url';
import {test} from 'node:test';
import {startEmulator} from '../../emulator/src/index.ts';

const INDEX = fileURLToPath(
  new URL('../../emulator/src/index.ts', import.meta.url),
);

void test('a process that starts and closes the emulator exits by itself', () => {
  const script = `
    import {startEmulator} from ${JSON.stringify(INDEX)};
    const e = await startEmulator();
    e.faults.set('metadata.token', {kind: 'hang'});
    e.faults.set('tokeninfo', {kind: 'delay', ms: 60000});
    const hung = fetch(e.url + '/computeMetadata/v1/instance/service-accounts/default/token', {headers: {'Metadata-Flavor': 'Google'}}).catch(() => 'dropped');
    const slow = fetch(e.url + '/tokeninfo?access_token=x').catch(() => 'dropped');
    await new Promise(r => setTimeout(r, 100));
    await e.close();
    console.log(await hung, await slow);
  `;
  const started = Date.now();
  const run = spawnSync(
    process.execPath,
    ['--input-type=module', '-e', script],
    {
      encoding: 'utf8',
      timeout: 15_000,
    },
  );
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout.trim(), 'dropped dropped');
  assert.ok(Date.now() - started < 10_000);
});

void test('close() is idempotent and the ports stop answering', async () => {
  const e = await startEmulator();
  const url = e.url;
  await Promise.all([e.close(), e.close()]);
  await assert.rejects(fetch(`${url}/`));
});
