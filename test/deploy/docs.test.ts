import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import {join, resolve} from 'node:path';
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

void describe('docs/deploy.md', () => {
  void test('covers the whole life of a deployment', () => {
    for (const heading of [
      /^## Prerequisites$/m,
      /^## 2\. Set the variables$/m,
      /^## 3\. Build, package, apply$/m,
      /^## 4\. Deploy continuously with Cloud Build$/m,
      /^## Add a client, and roll an API key$/m,
      /^## Add a service account$/m,
      /^## Tear down$/m,
    ]) {
      assert.match(deploy, heading);
    }
    assert.match(deploy, /tvm keygen/);
    assert.match(deploy, /terraform apply/);
    assert.match(deploy, /terraform destroy/);
  });

  void test('its substitution table is cloudbuild.yaml, defaults included', () => {
    const build = parseBuild(
      readFileSync(join(ROOT, 'cloudbuild.yaml'), 'utf8'),
    );
    const declared = build.substitutions as Record<string, string>;
    const rows = codeRows(deploy);
    for (const [name, value] of Object.entries(declared)) {
      assert.equal(rows.get(name)?.[0], `\`${value}\``, `${name} documented`);
    }
    const documented = [...rows.keys()].filter(k => /^_[A-Z_]+$/.test(k));
    assert.deepEqual(documented.sort(), Object.keys(declared).sort());
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
