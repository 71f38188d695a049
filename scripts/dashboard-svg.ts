/**
 * Draws the layout of the module's Cloud Monitoring dashboard
 * (terraform/modules/tvm/dashboard.json) as an SVG, so the module README can show an
 * operator what the dashboard holds and where:
 *
 *   node scripts/dashboard-svg.ts      # writes terraform/modules/tvm/dashboard.svg
 *
 * The picture is the JSON's mosaic layout: one box per tile at its position and size,
 * with its title, the kind of chart, and what it plots. test/deploy/dashboard.test.ts
 * checks the committed SVG is what this draws from the current JSON.
 */
import {readFileSync, writeFileSync} from 'node:fs';
import {join, resolve} from 'node:path';

export const MODULE_DIR = resolve(
  import.meta.dirname,
  '../terraform/modules/tvm',
);

interface DataSet {
  plotType?: string;
  timeSeriesQuery?: {
    timeSeriesFilter?: {
      filter?: string;
      aggregation?: {perSeriesAligner?: string; groupByFields?: string[]};
    };
  };
}
export interface Tile {
  xPos?: number;
  yPos?: number;
  width: number;
  height: number;
  widget: {title: string; xyChart?: {dataSets: DataSet[]}};
}
export interface Dashboard {
  displayName: string;
  mosaicLayout: {columns: number; tiles: Tile[]};
}

/** The dashboard JSON with the module's template variables filled in. */
export function loadDashboard(
  vars: Record<string, string> = {
    name: 'tvm-vend',
    service: 'tvm-vend',
    metric_prefix: 'tvm/tvm-vend',
  },
): Dashboard {
  const text = readFileSync(join(MODULE_DIR, 'dashboard.json'), 'utf8');
  const filled = text.replace(/\$\{([a-z_]+)\}/g, (_, k: string) => {
    const v = vars[k];
    if (v === undefined) throw new Error(`dashboard.json: unknown \${${k}}`);
    return v;
  });
  return JSON.parse(filled) as Dashboard;
}

function escape(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

/** What a data set plots, in a few words: the metric and the grouping. */
function describe(d: DataSet): string {
  const f = d.timeSeriesQuery?.timeSeriesFilter;
  const metric = /metric\.type="([^"]+)"/.exec(f?.filter ?? '')?.[1] ?? '?';
  const short = metric
    .replace(/^logging\.googleapis\.com\/user\/.*\//, 'log metric ')
    .replace(/^run\.googleapis\.com\//, 'run ');
  const by = (f?.aggregation?.groupByFields ?? [])
    .map(g => /label\."?([a-z_]+)"?/.exec(g)?.[1])
    .filter(Boolean);
  const aligner = (f?.aggregation?.perSeriesAligner ?? '')
    .replace(/^ALIGN_/, '')
    .toLowerCase();
  return `${short} (${aligner}${by.length ? `, by ${by.join(', ')}` : ''})`;
}

/** A small glyph of the chart kind, inside a box at (x, y). */
function glyph(
  kind: string,
  x: number,
  y: number,
  w: number,
  h: number,
): string {
  const base = y + h;
  if (kind === 'STACKED_BAR') {
    return Array.from({length: 8}, (_, i) => {
      const bh = h * (0.3 + 0.6 * Math.abs(Math.sin(i * 1.3)));
      return `<rect x="${(x + i * (w / 8) + 2).toFixed(1)}" y="${(base - bh).toFixed(1)}" width="${(w / 8 - 4).toFixed(1)}" height="${bh.toFixed(1)}" fill="#8ab4f8"/>`;
    }).join('');
  }
  const pts = Array.from({length: 9}, (_, i) => {
    const py = base - h * (0.3 + 0.5 * Math.abs(Math.sin(i * 0.9 + 0.4)));
    return `${(x + (i * w) / 8).toFixed(1)},${py.toFixed(1)}`;
  });
  if (kind === 'STACKED_AREA') {
    return `<polygon points="${x},${base} ${pts.join(' ')} ${x + w},${base}" fill="#a8dab5"/>`;
  }
  return `<polyline points="${pts.join(' ')}" fill="none" stroke="#f28b82" stroke-width="2"/>`;
}

/** The SVG picture of the dashboard's mosaic layout. */
export function renderDashboardSvg(d: Dashboard): string {
  const unit = 20; // pixels per mosaic column
  const row = 12; // pixels per mosaic row
  const pad = 10;
  const header = 36;
  const cols = d.mosaicLayout.columns;
  const rows = Math.max(
    ...d.mosaicLayout.tiles.map(t => (t.yPos ?? 0) + t.height),
  );
  const width = cols * unit + 2 * pad;
  const height = rows * row + header + 2 * pad;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="${width}" height="${height}" fill="#f8f9fa"/>`,
    `<text x="${pad}" y="${pad + 18}" font-size="18" font-weight="bold" fill="#202124">${escape(d.displayName)}</text>`,
  ];
  for (const t of d.mosaicLayout.tiles) {
    const x = pad + (t.xPos ?? 0) * unit + 4;
    const y = header + pad + (t.yPos ?? 0) * row + 4;
    const w = t.width * unit - 8;
    const h = t.height * row - 8;
    const sets = t.widget.xyChart?.dataSets ?? [];
    parts.push(
      `<g><rect x="${x}" y="${y}" width="${w}" height="${h}" rx="6" fill="#ffffff" stroke="#dadce0"/>`,
      `<text x="${x + 10}" y="${y + 20}" font-size="13" font-weight="bold" fill="#202124">${escape(t.widget.title)}</text>`,
      glyph(
        sets[0]?.plotType ?? 'LINE',
        x + 10,
        y + 32,
        w - 20,
        h - 32 - 16 - 14 * sets.length,
      ),
      ...sets.map(
        (s, i) =>
          `<text x="${x + 10}" y="${y + h - 10 - 14 * (sets.length - 1 - i)}" font-size="10" fill="#5f6368">${escape(`${(s.plotType ?? 'LINE').toLowerCase().replace('_', ' ')}: ${describe(s)}`)}</text>`,
      ),
      '</g>',
    );
  }
  parts.push('</svg>', '');
  return parts.join('\n');
}

if (import.meta.filename === process.argv[1]) {
  const out = join(MODULE_DIR, 'dashboard.svg');
  writeFileSync(out, renderDashboardSvg(loadDashboard()));
  console.log(`wrote ${out}`);
}
