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
// A reader that stops early (`tvm ... | head`) is not an error.
process.stdout.on('error', e => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});
const {main} = await import(fromSource ? source.href : built.href);
process.exitCode = await main(process.argv.slice(2), process);
