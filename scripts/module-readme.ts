/**
 * Rewrites the "## Inputs" and "## Outputs" tables of a Terraform module's README.md
 * from its variables and outputs (read with HashiCorp's HCL parser, as the offline
 * tests do), so the tables cannot drift from the code:
 *
 *   node scripts/module-readme.ts terraform/modules/tvm [terraform/bootstrap ...]
 *
 * test/deploy/terraform.test.ts checks the tables list exactly the variables and
 * outputs.
 */
import {readFileSync, readdirSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';
import {parse} from '@cdktf/hcl2json';

type Body = Record<string, unknown>;

function labelled(files: Body[], key: string): Array<[string, Body]> {
  const out: Array<[string, Body]> = [];
  for (const f of files) {
    const group = f[key] as Record<string, Body[]> | undefined;
    for (const [name, list] of Object.entries(group ?? {})) {
      for (const b of list) out.push([name, b]);
    }
  }
  return out.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function cell(text: string): string {
  return text
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/\|/g, '\\|')
    .replace(/<([a-z_]+)>/g, '`<$1>`');
}

function type(t: unknown): string {
  const s = String(t)
    .replace(/^\$\{/, '')
    .replace(/\}$/, '')
    .replace(/\s+/g, ' ');
  return `\`${s}\``;
}

function value(v: unknown): string {
  return `\`${JSON.stringify(v)}\``;
}

function replaceSection(md: string, heading: string, table: string): string {
  const start = md.indexOf(`## ${heading}\n`);
  if (start < 0) throw new Error(`no "## ${heading}" section`);
  const after = md.indexOf('\n## ', start + 3);
  const end = after < 0 ? md.length : after + 1;
  return `${md.slice(0, start)}## ${heading}\n\n${table}\n${after < 0 ? '' : '\n'}${md.slice(end)}`;
}

async function rewrite(dir: string): Promise<void> {
  const files: Body[] = [];
  for (const n of readdirSync(dir)
    .filter(f => f.endsWith('.tf'))
    .sort()) {
    files.push((await parse(n, readFileSync(join(dir, n), 'utf8'))) as Body);
  }
  const inputs = [
    '| Name | Description | Type | Default | Required |',
    '| --- | --- | --- | --- | :---: |',
    ...labelled(files, 'variable').map(([name, v]) => {
      const required = !('default' in v);
      return `| \`${name}\` | ${cell(String(v.description ?? ''))} | ${type(v.type)} | ${required ? 'n/a' : value(v.default)} | ${required ? 'yes' : 'no'} |`;
    }),
  ].join('\n');
  const outputs = [
    '| Name | Description |',
    '| --- | --- |',
    ...labelled(files, 'output').map(
      ([name, o]) => `| \`${name}\` | ${cell(String(o.description ?? ''))} |`,
    ),
  ].join('\n');
  const path = join(dir, 'README.md');
  let md = readFileSync(path, 'utf8');
  md = replaceSection(md, 'Inputs', inputs);
  md = replaceSection(md, 'Outputs', outputs);
  writeFileSync(path, md);
  console.log(
    `${path}: ${inputs.split('\n').length - 2} inputs, ${outputs.split('\n').length - 2} outputs`,
  );
}

for (const dir of process.argv.slice(2)) await rewrite(dir);
