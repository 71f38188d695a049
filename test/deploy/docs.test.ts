import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import {readFileSync} from 'node:fs';
import {join, resolve} from 'node:path';
import {parse} from '@cdktf/hcl2json';
import {parseBuild} from './cloudbuild-checks.ts';
import {loadConfiguration, variables} from './terraform-checks.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const deploy = readFileSync(join(ROOT, 'docs/deploy.md'), 'utf8');

/** Rows of markdown tables whose first cell is a code span: name → other cells. */
function codeRows(markdown: string): Map<string, string[]> {
  const rows = new Map<string, string[]>();
  for (const line of markdown.split('\n')) {
    const m = /^\|\s*`([^`]+)`\s*\|(.*)\|\s*$/.exec(line);
    if (m)
      rows.set(
        m[1]!,
        m[2]!.split('|').map(c => c.trim()),
      );
  }
  return rows;
}

/** The fenced code blocks of a markdown text, with their language. */
export function codeBlocks(
  markdown: string,
): Array<{lang: string; code: string; line: number}> {
  const out: Array<{lang: string; code: string; line: number}> = [];
  const re = /^( *)```([a-z]*)\n([\s\S]*?)^\1```$/gm;
  for (const m of markdown.matchAll(re)) {
    const indent = m[1]!.length;
    const code = m[3]!
      .split('\n')
      .map(l => l.slice(Math.min(indent, l.length - l.trimStart().length)))
      .join('\n');
    out.push({
      lang: m[2]!,
      code,
      line: markdown.slice(0, m.index).split('\n').length,
    });
  }
  return out;
}

/** The markdown files whose commands an operator runs. */
const OPERATOR_DOCS = [
  'docs/deploy.md',
  'terraform/modules/tvm/README.md',
  'terraform/bootstrap/README.md',
  'terraform/examples/simple/README.md',
];

void describe('docs/deploy.md', () => {
  void test('walks the whole life of a deployment, in order', () => {
    const headings = [
      /^## Prerequisites$/m,
      /^## 1\. Bootstrap \(once, as a project owner\)$/m,
      /^## 2\. Set the variables$/m,
      /^## 3\. Build, package, apply$/m,
      /^## 4\. Deploy continuously with Cloud Build$/m,
      /^## Change the policy$/m,
      /^## Roll back$/m,
      /^### A bad policy$/m,
      /^### A bad build$/m,
      /^## Add a client, and roll an API key$/m,
      /^## Add a service account$/m,
      /^## Rotate the key of a `mint: key` account$/m,
      /^## Tear down$/m,
    ];
    let at = -1;
    for (const h of headings) {
      const i = deploy.search(h);
      assert.ok(i > at, `${h} after the previous section`);
      at = i;
    }
    for (const must of [
      /tvm keygen/,
      /tvm policy check/,
      /scripts\/package-function\.py/,
      /terraform apply/,
      /terraform destroy/,
      /gcloud secrets versions add tvm-policy/,
      /gcloud run services update-traffic/,
      /gcloud secrets versions disable/,
      /\$ISSUER\/health"/,
    ]) {
      assert.match(deploy, must);
    }
    assert.doesNotMatch(
      deploy,
      /curl[^\n]*\/healthz/,
      'probes and examples use /health',
    );
  });

  void test('its substitution tables are cloudbuild.yaml and cloudbuild-deploy.yaml, defaults included', () => {
    for (const [file, heading] of [
      ['cloudbuild.yaml', '`cloudbuild.yaml` substitutions:'],
      ['cloudbuild-deploy.yaml', '`cloudbuild-deploy.yaml` substitutions:'],
    ] as const) {
      const build = parseBuild(readFileSync(join(ROOT, file), 'utf8'));
      const declared = build.substitutions as Record<string, string>;
      const start = deploy.indexOf(heading);
      assert.ok(start >= 0, heading);
      const section = deploy.slice(
        start,
        deploy.indexOf('\n\n', start + heading.length + 2),
      );
      const rows = codeRows(section);
      for (const [name, value] of Object.entries(declared)) {
        assert.equal(
          rows.get(name)?.[0],
          `\`${value}\``,
          `${file}: ${name} documented`,
        );
      }
      const documented = [...rows.keys()].filter(k => /^_[A-Z_]+$/.test(k));
      assert.deepEqual(documented.sort(), Object.keys(declared).sort(), file);
    }
  });

  void test('every required variable of the example root is explained', async () => {
    const example = await loadConfiguration(
      join(ROOT, 'terraform/examples/simple'),
    );
    const rows = codeRows(deploy);
    for (const [name, body] of variables(example)) {
      if (!('default' in body)) assert.ok(rows.has(name), name);
    }
  });
});

void describe('operator docs: every command parses', () => {
  for (const file of OPERATOR_DOCS) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    const blocks = codeBlocks(text);

    void test(`${file}: every shell block passes bash -n`, () => {
      const shell = blocks.filter(b => b.lang === 'sh' || b.lang === 'bash');
      if (file === 'docs/deploy.md') assert.ok(shell.length >= 10);
      for (const b of shell) {
        const r = spawnSync('bash', ['-n'], {input: b.code, encoding: 'utf8'});
        assert.equal(r.status, 0, `${file}:${b.line}: ${r.stderr}`);
      }
      const untagged = blocks.filter(b => b.lang === '');
      assert.deepEqual(
        untagged.map(b => b.line),
        [],
        `${file}: blocks without a language`,
      );
    });

    void test(`${file}: every Terraform block parses`, async () => {
      const hcl = blocks.filter(
        b => b.lang === 'hcl' || b.lang === 'terraform',
      );
      if (file === 'docs/deploy.md') assert.ok(hcl.length >= 2);
      for (const b of hcl) {
        await assert.doesNotReject(
          parse(`${file}:${b.line}.tf`, b.code),
          `${file}:${b.line}`,
        );
      }
    });
  }

  void test('bash -n and the HCL parser do catch a broken block', async () => {
    const r = spawnSync('bash', ['-n'], {
      input: 'if true; then echo x\n',
      encoding: 'utf8',
    });
    assert.notEqual(r.status, 0);
    await assert.rejects(
      parse('bad.tf', 'service_accounts = {\n  a = { email = "x" \n'),
    );
  });
});
