/**
 * The module's dashboard: its JSON is a sound mosaic layout that plots the module's
 * own log-based metrics and the function's Cloud Run service, and the picture in the
 * module README (dashboard.svg) is drawn from it as it is now.
 */
import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import {join} from 'node:path';
import {
  MODULE_DIR,
  loadDashboard,
  renderDashboardSvg,
} from '../../scripts/dashboard-svg.ts';
import {
  blocks,
  loadConfiguration,
  resourcesOfType,
} from './terraform-checks.ts';

const dashboard = loadDashboard();
const tiles = dashboard.mosaicLayout.tiles;

void describe('the monitoring dashboard', () => {
  void test('tiles lie inside the 48 columns and do not overlap', () => {
    assert.equal(dashboard.mosaicLayout.columns, 48);
    for (const [i, a] of tiles.entries()) {
      assert.ok((a.xPos ?? 0) + a.width <= 48, a.widget.title);
      for (const b of tiles.slice(i + 1)) {
        const apart =
          (a.xPos ?? 0) + a.width <= (b.xPos ?? 0) ||
          (b.xPos ?? 0) + b.width <= (a.xPos ?? 0) ||
          (a.yPos ?? 0) + a.height <= (b.yPos ?? 0) ||
          (b.yPos ?? 0) + b.height <= (a.yPos ?? 0);
        assert.ok(apart, `${a.widget.title} overlaps ${b.widget.title}`);
      }
    }
  });

  void test('it charts each log-based metric the module defines, and the service by name', async () => {
    const mod = await loadConfiguration(MODULE_DIR);
    const metrics = mod.files
      .flatMap(f => blocks(f.body, 'locals'))
      .find(l => l.metrics !== undefined)?.metrics as Record<string, unknown>;
    const filters = tiles.flatMap(t =>
      (t.widget.xyChart?.dataSets ?? []).map(
        d => d.timeSeriesQuery?.timeSeriesFilter?.filter ?? '',
      ),
    );
    for (const m of Object.keys(metrics)) {
      assert.ok(
        filters.some(f =>
          f.includes(`logging.googleapis.com/user/tvm/tvm-vend/${m}"`),
        ),
        `a chart of ${m}`,
      );
    }
    for (const f of filters.filter(x => x.includes('run.googleapis.com'))) {
      assert.match(f, /resource\.label\."service_name"="tvm-vend"/);
    }
    const dash = resourcesOfType(mod, 'google_monitoring_dashboard')[0];
    assert.match(
      String(dash?.body.dashboard_json),
      /templatefile\("\$\{path\.module\}\/dashboard\.json"/,
    );
  });

  void test('dashboard.svg is drawn from dashboard.json as it is now (node scripts/dashboard-svg.ts)', () => {
    const committed = readFileSync(join(MODULE_DIR, 'dashboard.svg'), 'utf8');
    assert.equal(committed, renderDashboardSvg(dashboard));
    for (const t of tiles) assert.ok(committed.includes(t.widget.title));
    const readme = readFileSync(join(MODULE_DIR, 'README.md'), 'utf8');
    assert.match(readme, /!\[[^\]]*\]\(dashboard\.svg\)/);
  });
});
