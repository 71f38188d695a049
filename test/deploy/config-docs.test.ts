/**
 * The README's configuration table is the declaration in src/config.ts, rendered by
 * scripts/config-table.ts: after a change of a setting, `node scripts/config-table.ts`
 * rewrites it.
 */
import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import {CONFIG_SETTINGS} from '../../src/config.ts';
import {
  BEGIN,
  END,
  README,
  configTable,
  withConfigTable,
} from '../../scripts/config-table.ts';

const readme = readFileSync(README, 'utf8');

void describe("README.md's configuration table", () => {
  void test('is the one rendered from the declaration (run node scripts/config-table.ts)', () => {
    assert.equal(readme, withConfigTable(readme));
  });

  void test('has one row per declared variable, with its default, and no other', () => {
    const table = readme.slice(readme.indexOf(BEGIN), readme.indexOf(END));
    const rows = [...table.matchAll(/^\| `([A-Z0-9_]+)` \| ([^|]*) \|/gm)];
    assert.deepEqual(
      rows.map(r => r[1]),
      CONFIG_SETTINGS.map(s => s.variable),
    );
    for (const [i, s] of CONFIG_SETTINGS.entries()) {
      assert.equal(rows[i]![2]!.trim(), s.defaultText ?? '', s.variable);
    }
  });

  void test('the rendering replaces an outdated table between the markers', () => {
    const stale = `intro\n${BEGIN}\n| \`TVM_STS_ENDPOINT\` | | | gone |\n${END}\nafter\n`;
    assert.equal(
      withConfigTable(stale),
      `intro\n${BEGIN}\n${configTable()}\n${END}\nafter\n`,
    );
    assert.throws(() => withConfigTable('no markers'), /lacks the markers/);
  });
});
