/**
 * The pictures of a whole policy for `tvm policy explain` without a question: an
 * aligned table (client → how it authenticates → accounts → scopes → lifetimes), the
 * same as a JSON document, and a Graphviz digraph of who may become whom. All three
 * are drawn from one `PolicyOverview` (src/policy/explain.ts). Policy text is
 * operator input, but it is escaped anyway: a claim value or an issuer cannot break a
 * table line or a DOT string.
 */

import {
  formatDuration,
  type AuthenticationOverview,
  type ClientOverview,
  type GrantOverview,
  type KeysOverview,
  type PolicyOverview,
} from '../policy/explain.ts';
import {printable} from '../text.ts';

export const OVERVIEW_FORMATS = ['table', 'json', 'dot'] as const;
export type OverviewFormat = (typeof OVERVIEW_FORMATS)[number];

const GOOGLE_SCOPE_PREFIX = 'https://www.googleapis.com/auth/';

/** A scope as the policy usually writes it: `bigquery.readonly` for Google's own. */
function shortScope(scope: string): string {
  return scope.startsWith(GOOGLE_SCOPE_PREFIX)
    ? scope.slice(GOOGLE_SCOPE_PREFIX.length)
    : scope;
}

/**
 * The scopes of a grant, one a line, its default scopes marked, then the audiences of
 * its ID tokens; `escape` makes the policy's text safe for where it goes.
 */
function scopeLines(
  g: GrantOverview,
  escape: (s: string) => string = printable,
): string[] {
  const defaults = new Set(g.default_scopes ?? []);
  return [
    ...g.scopes.map(
      s => `${escape(shortScope(s))}${defaults.has(s) ? ' (default)' : ''}`,
    ),
    ...(g.id_token?.audiences ?? []).map(
      a =>
        `ID token: ${escape(a)}${g.id_token!.include_email ? ' (+email)' : ''}`,
    ),
    ...(g.delegation
      ? [
          `as user: ${g.delegation.subjects.map(escape).join(', ')}`,
          `  with ${g.delegation.scopes.map(s => escape(shortScope(s))).join(', ')}`,
        ]
      : []),
    ...(g.access_boundary?.rules ?? []).map(
      r =>
        `boundary (${g.access_boundary!.mode}): ${escape(r.resource)} ${r.permissions.map(p => escape(p.replace(/^inRole:roles\//, ''))).join(', ')}${r.condition === null ? '' : ' (if a condition holds)'}`,
    ),
  ];
}

/** An ISO instant, as a date alone when it is midnight UTC. */
function when(iso: string): string {
  return iso.endsWith('T00:00:00.000Z') ? iso.slice(0, 10) : iso;
}

function keysText(k: KeysOverview): string {
  switch (k.source) {
    case 'discovery':
      return "keys: the issuer's discovery document";
    case 'jwks_uri':
      return `keys: ${printable(k.jwks_uri)}`;
    case 'pinned':
      return `keys: pinned in the policy (${k.keys})`;
  }
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** How a client authenticates, a few short lines per method. */
function authLines(a: AuthenticationOverview): string[] {
  switch (a.method) {
    case 'api_key':
      return [
        `api keys: ${a.keys}`,
        ...a.expires.map(e => `  one expires ${when(e)}`),
      ];
    case 'oidc':
      return [
        `oidc: ${printable(a.issuer)}`,
        `  aud ${a.audiences.map(x => `"${printable(x)}"`).join(', ')}`,
        ...a.claims.map(c =>
          c.equals !== undefined
            ? `  ${c.claim} equals "${printable(c.equals)}"`
            : `  ${c.claim} pattern "${printable(c.pattern ?? '')}"`,
        ),
        `  ${keysText(a.keys)}`,
      ];
    case 'private_key_jwt':
      return ['private_key_jwt', `  ${keysText(a.keys)}`];
  }
}

function clientAuthLines(c: ClientOverview): string[] {
  return [
    ...c.authentication.flatMap(authLines),
    ...c.source_ranges.map(r => `from ${r}`),
  ];
}

/** Pads each column to its widest line; a row is a list of cells, a cell a list of lines. */
function alignRows(rows: readonly (readonly string[][])[]): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      for (const line of cell)
        widths[i] = Math.max(widths[i] ?? 0, line.length);
    });
  }
  const out: string[] = [];
  for (const row of rows) {
    const height = Math.max(1, ...row.map(cell => cell.length));
    for (let l = 0; l < height; l++) {
      out.push(
        row
          .map((cell, i) => (cell[l] ?? '').padEnd(widths[i]!))
          .join('  ')
          .trimEnd(),
      );
    }
  }
  return out;
}

/**
 * The table: one block of lines per client (its authentication beside its grants,
 * each grant's scopes one a line), then the service accounts.
 */
export function renderTable(o: PolicyOverview, source: string): string {
  const clientRows: string[][][] = [
    [
      ['CLIENT'],
      ['AUTHENTICATES WITH'],
      ['SERVICE ACCOUNT'],
      ['SCOPES'],
      ['MAX LIFETIME'],
    ],
  ];
  for (const c of o.clients) {
    const sa: string[] = [];
    const scopes: string[] = [];
    const lifetimes: string[] = [];
    for (const g of c.grants) {
      const lines = scopeLines(g);
      sa.push(g.service_account, ...lines.slice(1).map(() => ''));
      scopes.push(...lines);
      lifetimes.push(
        formatDuration(g.max_lifetime_seconds),
        ...lines.slice(1).map(() => ''),
      );
    }
    if (c.grants.length === 0) sa.push('(none in force)');
    clientRows.push([[c.id], clientAuthLines(c), sa, scopes, lifetimes]);
  }
  const accountRows: string[][][] = [
    [
      ['SERVICE ACCOUNT'],
      ['EMAIL'],
      ['MINT'],
      ['IAM CEILING'],
      ['CLIENTS'],
      ['KEY SECRET'],
    ],
    ...o.service_accounts.map(sa => [
      [sa.alias],
      [sa.email],
      [sa.mint],
      [
        `${formatDuration(sa.iam_max_lifetime_seconds)}${sa.lifetime_extension ? ' (lifetime_extension)' : ''}`,
      ],
      [sa.granted_to.join(', ') || '(none)'],
      // A user's credential sits where a key would (both are Secret Manager versions).
      [sa.key_secret ?? sa.credential_secret]
        .filter(v => v !== undefined && v !== null)
        .map(v => printable(v)),
    ]),
  ];
  const lines = [
    `policy: ${source} (digest ${o.digest.slice(0, 12)})`,
    '',
    ...withBlankBetweenBlocks(clientRows),
    '',
    ...alignRows(accountRows),
    '',
    `${plural(o.clients.length, 'client')}, ${plural(o.service_accounts.length, 'service account')}. (default): used when a request names no scope.`,
    ...(o.clients.some(c => c.grants.some(g => g.id_token))
      ? [
          "ID token: an audience the client may have ID tokens for (they live 1h; (+email): the account's email may be in them).",
        ]
      : []),
    ...(o.clients.some(c => c.grants.some(g => g.delegation))
      ? [
          'as user: the Workspace users its access tokens may act for (domain-wide delegation; they live 1h), with the scopes below.',
        ]
      : []),
    ...(o.clients.some(c => c.grants.some(g => g.access_boundary))
      ? [
          'boundary: a Credential Access Boundary on its access tokens, roles by resource (force: always; allow: when the caller asks for one within it).',
        ]
      : []),
    'As the service applies it: disabled clients and keys are left out, a disabled account is granted to no client.',
  ];
  return `${lines.join('\n')}\n`;
}

/** The aligned lines of `rows` with a blank line after the header and between rows. */
function withBlankBetweenBlocks(
  rows: readonly (readonly string[][])[],
): string[] {
  const aligned = alignRows(rows);
  const out: string[] = [];
  let at = 0;
  rows.forEach((row, i) => {
    const height = Math.max(1, ...row.map(cell => cell.length));
    if (i > 0) out.push('');
    out.push(...aligned.slice(at, at + height));
    at += height;
  });
  return out;
}

/** The overview as a stable JSON document (two-space indent, a final newline). */
export function renderJson(o: PolicyOverview, source: string): string {
  const {tvm_policy_overview, ...rest} = o;
  return `${JSON.stringify({tvm_policy_overview, source, ...rest}, null, 2)}\n`;
}

/**
 * Text made safe inside a DOT quoted string: control characters shown as `\uXXXX`,
 * at most 80 characters, then backslashes and quotes escaped (so Graphviz's own
 * escapes such as `\N` or `\n` cannot be formed from policy text) and, in a label,
 * `&` written as `&amp;` (so `&lt;` in policy text is shown as it is written).
 */
export function dotText(s: string, entities = true): string {
  const visible = s.replace(
    /[\p{Cc}\u2028\u2029]/gu,
    c => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  // Cut by code points: half a surrogate pair is not text Graphviz can read.
  const points = [...visible];
  const cut =
    points.length > 80 ? `${points.slice(0, 77).join('')}...` : visible;
  const quoted = cut.replace(/[\\"]/g, m => `\\${m}`);
  // In a label Graphviz reads `&name;` as an entity: `&` itself must be one.
  return entities ? quoted.replace(/&/g, '&amp;') : quoted;
}

/** A DOT quoted string of several lines, each escaped, parted by DOT's `\n`. */
function dotLabel(lines: readonly string[]): string {
  return `"${lines.map(l => dotText(l)).join('\\n')}"`;
}

function dotId(kind: 'client' | 'sa' | 'issuer', name: string): string {
  return `"${kind}:${dotText(name, false)}"`;
}

/**
 * Who may become whom, as a Graphviz digraph: OIDC issuers → the clients their
 * tokens are (edges labelled with the audience and claim conditions), clients →
 * the service accounts they may have (edges labelled with scopes and the lifetime
 * ceiling). Every identifier and label is a quoted, escaped string. Neither the
 * file's path nor its digest is in it: the drawing depends on the policy's meaning
 * only.
 */
export function renderDot(o: PolicyOverview): string {
  const out = [
    'digraph "tvm policy" {',
    '  graph [rankdir=LR, fontname="Helvetica", nodesep=0.25, ranksep=1.2];',
    '  node [fontname="Helvetica", fontsize=10, shape=box, style="rounded"];',
    '  edge [fontname="Helvetica", fontsize=9];',
  ];
  const issuers = new Map<string, string[]>();
  for (const c of o.clients) {
    for (const a of c.authentication) {
      if (a.method !== 'oidc') continue;
      const edges = issuers.get(a.issuer) ?? [];
      edges.push(
        `  ${dotId('issuer', a.issuer)} -> ${dotId('client', c.id)} [style=dashed, label=${dotLabel(
          [
            `aud ${a.audiences.join(', ')}`,
            ...a.claims.map(k =>
              k.equals !== undefined
                ? `${k.claim} = ${k.equals}`
                : `${k.claim} ~ ${k.pattern ?? ''}`,
            ),
          ],
        )}];`,
      );
      issuers.set(a.issuer, edges);
    }
  }
  for (const issuer of issuers.keys()) {
    out.push(
      `  ${dotId('issuer', issuer)} [shape=ellipse, style=dashed, label=${dotLabel(['OIDC issuer', issuer])}];`,
    );
  }
  for (const c of o.clients) {
    const how = c.authentication.map(a =>
      a.method === 'api_key'
        ? `api key${a.keys === 1 ? '' : 's'} (${a.keys})`
        : a.method === 'oidc'
          ? 'OIDC token'
          : 'private_key_jwt',
    );
    out.push(
      `  ${dotId('client', c.id)} [label=${dotLabel([`client ${c.id}`, how.join(', ')])}];`,
    );
  }
  for (const sa of o.service_accounts) {
    out.push(
      `  ${dotId('sa', sa.alias)} [shape=box, style="filled", fillcolor="#e8f0fe", label=${dotLabel([sa.alias, sa.email, `mint ${sa.mint}`])}];`,
    );
  }
  for (const edges of issuers.values()) out.push(...edges);
  for (const c of o.clients) {
    for (const g of c.grants) {
      out.push(
        `  ${dotId('client', c.id)} -> ${dotId('sa', g.service_account)} [label=${dotLabel(
          [
            ...scopeLines(g, s => s),
            `up to ${formatDuration(g.max_lifetime_seconds)}`,
          ],
        )}];`,
      );
    }
  }
  out.push('}');
  return `${out.join('\n')}\n`;
}
