/**
 * `npx tvm` from a fresh clone on a machine whose `node` is older than 24 (issue 10,
 * item 6): bin/tvm.js runs the `.ts` source, which only Node 24 can. It re-runs itself
 * with the project's Node 24 (.tools/, from scripts/node24.sh) when that is there, and
 * otherwise says in one line what to do — never ERR_UNKNOWN_FILE_EXTENSION.
 *
 * Uses the machine's own older Node (the first `node` on the default PATH that is not
 * 24); skipped where there is none.
 */
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import {copyFileSync, mkdirSync, mkdtempSync, symlinkSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

const root = join(import.meta.dirname, '../..');

function olderNode(): {path: string; version: string} | undefined {
  for (const path of ['/usr/bin/node', '/usr/local/bin/node', '/bin/node']) {
    const r = spawnSync(path, ['--version'], {encoding: 'utf8'});
    if (r.status !== 0) continue;
    const version = r.stdout.trim();
    if (Number(/^v(\d+)/.exec(version)?.[1]) < 24) return {path, version};
  }
  return undefined;
}

const old = olderNode();
const skip = old ? false : 'no Node.js older than 24 on this machine';

void test(
  `with ${old?.version ?? 'an older Node'} and the project's Node 24 present, tvm runs`,
  {skip},
  () => {
    const r = spawnSync(
      old!.path,
      [join(root, 'bin/tvm.js'), 'keygen', '--client', 'x'],
      {
        encoding: 'utf8',
        env: {
          PATH: '/usr/bin:/bin',
          HOME: mkdtempSync(join(tmpdir(), 'tvm-home-')),
        },
      },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^tvm_[A-Za-z0-9_-]{43}$/m);
    assert.doesNotMatch(r.stderr, /ERR_UNKNOWN_FILE_EXTENSION/);
  },
);

void test(
  `with ${old?.version ?? 'an older Node'} and no Node 24 in the clone, one line says what to do`,
  {skip},
  () => {
    // A clone without .tools/: the bin, and the source it would run.
    const clone = mkdtempSync(join(tmpdir(), 'tvm-clone-'));
    mkdirSync(join(clone, 'bin'));
    copyFileSync(join(root, 'bin/tvm.js'), join(clone, 'bin/tvm.js'));
    symlinkSync(join(root, 'src'), join(clone, 'src'));
    symlinkSync(join(root, 'package.json'), join(clone, 'package.json'));
    const r = spawnSync(old!.path, [join(clone, 'bin/tvm.js'), 'keygen'], {
      encoding: 'utf8',
      env: {PATH: '/usr/bin:/bin'},
    });
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.equal(
      lines[0],
      `tvm needs Node.js 24 and this is ${old!.version}: run \`source scripts/node24.sh\` (it puts Node 24 first on PATH) and try again`,
    );
  },
);
