#!/usr/bin/env node
// The `tvm` command. Plain JavaScript so it runs from an installed package: it loads the
// built CLI when there is one (npm package, after `npm run build`), else the TypeScript
// source, which Node.js 24 runs directly by stripping types (a source checkout).
import {existsSync} from 'node:fs';
import process from 'node:process';
import {URL} from 'node:url';

const built = new URL('../build/src/cli/main.js', import.meta.url);
const source = new URL('../src/cli/main.ts', import.meta.url);
const {main} = await import(existsSync(built) ? built.href : source.href);
process.exitCode = await main(process.argv.slice(2), process);
