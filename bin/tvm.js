#!/usr/bin/env node
// The `tvm` command. Plain JavaScript so it runs from an installed package. In a source
// checkout it runs the TypeScript source, which Node.js 24 runs directly by stripping
// types, so a stale build never hides a change; an installed package (no src/, and Node
// does not strip types under node_modules) runs the built CLI.
import {existsSync} from 'node:fs';
import process from 'node:process';
import {URL, fileURLToPath} from 'node:url';

const built = new URL('../build/src/cli/main.js', import.meta.url);
const source = new URL('../src/cli/main.ts', import.meta.url);
const fromSource =
  existsSync(source) &&
  !fileURLToPath(source).split(/[\\/]/).includes('node_modules');
// The source needs Node.js 24 (type stripping, and the APIs the project targets). An
// older `node` first on PATH (`npx tvm` from a fresh clone) would crash on the `.ts`
// import: run the project's own Node 24 (scripts/node24.sh keeps it in .tools/) when
// it is there, or say in one line what to do.
if (fromSource && Number(process.versions.node.split('.')[0]) < 24) {
  const node24 = fileURLToPath(
    new URL('../.tools/node/bin/node', import.meta.url),
  );
  if (!existsSync(node24)) {
    process.stderr.write(
      `tvm needs Node.js 24 and this is ${process.version}: run \`source scripts/node24.sh\` (it puts Node 24 first on PATH) and try again\n`,
    );
    process.exit(1);
  }
  const {spawnSync} = await import('node:child_process');
  const r = spawnSync(
    node24,
    [fileURLToPath(import.meta.url), ...process.argv.slice(2)],
    {stdio: 'inherit'},
  );
  if (r.signal) process.kill(process.pid, r.signal);
  process.exit(r.status ?? 1);
}
// A reader that stops early (`tvm ... | head`) is not an error.
process.stdout.on('error', e => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});
const {main} = await import(fromSource ? source.href : built.href);
process.exitCode = await main(process.argv.slice(2), process);
