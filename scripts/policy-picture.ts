/**
 * The README's picture of the demo policy: who may become whom in policy/demo.yaml,
 * as `tvm policy explain policy/demo.yaml --format dot` draws it, rendered by Graphviz:
 *
 *   node scripts/policy-picture.ts   # writes docs/demo-policy.dot and docs/demo-policy.svg
 *
 * The DOT source is kept beside the SVG. test/cli/policy-overview.test.ts checks that
 * the DOT is what tvm draws from the demo policy now, and that the SVG holds the same
 * nodes, edges and words as a fresh rendering of it (not the same bytes: coordinates
 * may differ between Graphviz versions). Needs Graphviz's `dot` on PATH (Debian's
 * graphviz, which .ci/run installs).
 */
import {execFileSync} from 'node:child_process';
import {writeFileSync} from 'node:fs';
import {join, resolve} from 'node:path';
import {main} from '../src/cli/main.ts';

const ROOT = resolve(import.meta.dirname, '..');

let dot = '';
let errors = '';
const code = await main(
  ['policy', 'explain', join(ROOT, 'policy', 'demo.yaml'), '--format', 'dot'],
  {
    stdout: {write: (c: string) => (dot += c)},
    stderr: {write: (c: string) => (errors += c)},
  },
);
if (code !== 0) throw new Error(`tvm policy explain failed: ${errors}`);
const svg = execFileSync('dot', ['-Tsvg'], {input: dot, encoding: 'utf8'});
writeFileSync(join(ROOT, 'docs', 'demo-policy.dot'), dot);
writeFileSync(join(ROOT, 'docs', 'demo-policy.svg'), svg);
console.log('wrote docs/demo-policy.dot and docs/demo-policy.svg');
