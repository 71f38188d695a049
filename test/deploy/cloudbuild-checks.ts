/**
 * Offline checks of a Cloud Build configuration: its structure, its substitutions, the
 * npm scripts it runs, its images, and the absence of secrets. Each check returns a
 * list of problems (empty: fine).
 */
import {parse} from 'yaml';

export interface BuildStep {
  readonly id?: unknown;
  readonly name?: unknown;
  readonly entrypoint?: unknown;
  readonly args?: unknown;
  readonly dir?: unknown;
  readonly env?: unknown;
  readonly waitFor?: unknown;
  readonly [key: string]: unknown;
}

export interface BuildConfig {
  readonly steps?: unknown;
  readonly substitutions?: unknown;
  readonly [key: string]: unknown;
}

/** Substitutions Cloud Build provides itself. */
export const BUILT_IN_SUBSTITUTIONS: ReadonlySet<string> = new Set([
  'PROJECT_ID',
  'PROJECT_NUMBER',
  'BUILD_ID',
  'LOCATION',
  'TRIGGER_NAME',
  'TRIGGER_BUILD_CONFIG_PATH',
  'COMMIT_SHA',
  'SHORT_SHA',
  'REVISION_ID',
  'REPO_NAME',
  'REPO_FULL_NAME',
  'BRANCH_NAME',
  'TAG_NAME',
  'REF_NAME',
  'SERVICE_ACCOUNT',
  'SERVICE_ACCOUNT_EMAIL',
  '_HEAD_BRANCH',
  '_BASE_BRANCH',
  '_HEAD_REPO_URL',
  '_PR_NUMBER',
]);

export function parseBuild(text: string): BuildConfig {
  return parse(text) as BuildConfig;
}

export function steps(config: BuildConfig): BuildStep[] {
  return Array.isArray(config.steps) ? (config.steps as BuildStep[]) : [];
}

function* stringsIn(value: unknown): Generator<string> {
  if (typeof value === 'string') yield value;
  else if (Array.isArray(value)) for (const v of value) yield* stringsIn(v);
  else if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) yield* stringsIn(v);
  }
}

/**
 * The substitutions a string uses: `$NAME` and `${NAME}`, but not `$$NAME`, which is
 * Cloud Build's escape for a shell variable.
 */
export function substitutionsUsed(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(
    /(\$+)(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g,
  )) {
    if ((m[1] ?? '').length % 2 === 0) continue; // $$ escapes
    out.push(m[2] ?? m[3] ?? '');
  }
  return out;
}

/**
 * Every step has a unique `id` and an explicit `waitFor` whose entries are `-` or the
 * id of an earlier step; every step names an image.
 */
export function structureProblems(config: BuildConfig): string[] {
  const problems: string[] = [];
  const list = steps(config);
  if (list.length === 0) return ['no steps'];
  const seen = new Set<string>();
  for (const [i, step] of list.entries()) {
    const id =
      typeof step.id === 'string' && step.id !== '' ? step.id : undefined;
    const where = `steps[${i}]${id ? ` (${id})` : ''}`;
    if (!id) problems.push(`${where}: no id`);
    else if (seen.has(id)) problems.push(`${where}: duplicate id "${id}"`);
    if (typeof step.name !== 'string' || step.name === '')
      problems.push(`${where}: no image`);
    if (!Array.isArray(step.waitFor)) {
      problems.push(`${where}: no explicit waitFor`);
    } else {
      for (const w of step.waitFor) {
        if (w !== '-' && !(typeof w === 'string' && seen.has(w))) {
          problems.push(
            `${where}: waitFor "${String(w)}" is not an earlier step`,
          );
        }
      }
    }
    if (id) seen.add(id);
  }
  return problems;
}

/**
 * Every substitution used is declared (user-defined ones start with `_`) or built in;
 * every declared one starts with `_`, is upper case and is used.
 */
export function substitutionProblems(config: BuildConfig): string[] {
  const problems: string[] = [];
  const declaredValue = config.substitutions;
  const declared =
    typeof declaredValue === 'object' && declaredValue !== null
      ? Object.keys(declaredValue)
      : [];
  for (const d of declared) {
    if (!/^_[A-Z0-9_]+$/.test(d)) {
      problems.push(
        `substitution ${d}: user-defined substitutions are _UPPER_CASE`,
      );
    }
  }
  const used = new Set<string>();
  for (const [key, value] of Object.entries(config)) {
    if (key === 'substitutions') continue;
    for (const s of stringsIn(value)) {
      for (const u of substitutionsUsed(s)) used.add(u);
    }
  }
  for (const u of used) {
    if (declared.includes(u)) continue;
    if (u.startsWith('_')) {
      problems.push(`$${u} is used but not declared in substitutions`);
    } else if (!BUILT_IN_SUBSTITUTIONS.has(u)) {
      problems.push(
        `$${u} is neither built in nor declared (a shell variable must be written $$${u})`,
      );
    }
  }
  for (const d of declared) {
    if (!used.has(d))
      problems.push(`substitution ${d} is declared but never used`);
  }
  return problems;
}

/** The npm scripts a step runs: `npm run X`, `npm test`, `npm start`. */
export function npmScripts(step: BuildStep): string[] {
  const words: string[] = [];
  if (step.entrypoint === 'npm' && Array.isArray(step.args)) {
    words.push(['npm', ...step.args.map(String)].join(' '));
  }
  for (const s of stringsIn(step.args)) words.push(s);
  const out: string[] = [];
  for (const w of words) {
    for (const m of w.matchAll(
      /\bnpm\s+(?:run(?:-script)?\s+([\w:.-]+)|(test|start)\b)/g,
    )) {
      out.push(m[1] ?? m[2] ?? '');
    }
  }
  return [...new Set(out)];
}

/** Every npm script a step runs exists in package.json. */
export function npmScriptProblems(
  config: BuildConfig,
  scripts: Readonly<Record<string, string>>,
): string[] {
  const problems: string[] = [];
  for (const step of steps(config)) {
    for (const s of npmScripts(step)) {
      if (!(s in scripts))
        problems.push(
          `${String(step.id)}: npm script "${s}" is not in package.json`,
        );
    }
  }
  return problems;
}

/**
 * Every image has a tag or digest and none is `latest`; Terraform images pin a full
 * x.y.z version, so a plan and its apply run the same Terraform.
 */
export function imageProblems(config: BuildConfig): string[] {
  const problems: string[] = [];
  for (const step of steps(config)) {
    const image = String(step.name ?? '');
    const where = String(step.id);
    const tag = image.includes('@sha256:')
      ? 'digest'
      : /:([^/:]+)$/.exec(image)?.[1];
    if (!tag) problems.push(`${where}: image ${image} has no tag`);
    else if (tag === 'latest')
      problems.push(`${where}: image ${image} uses :latest`);
    if (
      /terraform/.test(image) &&
      tag !== 'digest' &&
      !/^\d+\.\d+\.\d+$/.test(tag ?? '')
    ) {
      problems.push(
        `${where}: Terraform image ${image} must pin an x.y.z version`,
      );
    }
  }
  return problems;
}

const SECRET_PATTERNS: ReadonlyArray<[string, RegExp]> = [
  ['a private key', /-----BEGIN [A-Z ]*PRIVATE KEY-----/],
  ['a Google API key', /AIza[0-9A-Za-z_-]{35}/],
  ['a Google OAuth access token', /\bya29\.[0-9A-Za-z_-]+/],
  ['a service-account key file field', /"private_key(_id)?"\s*:/],
  ['an AWS access key', /\bAKIA[0-9A-Z]{16}\b/],
  ['a GitHub token', /\bgh[pousr]_[0-9A-Za-z]{36}\b/],
  ['a long hex string (a key or its hash)', /(?<!sha256:)\b[0-9a-f]{40,}\b/i],
  ['a credential in a URL', /[a-z]+:\/\/[^\s/:@]+:[^\s/@]+@/i],
];
const SECRET_KEYS =
  /(password|passwd|secret|token|api[_-]?key|private[_-]?key|credential)/i;

/**
 * No secret in the file: no key material or tokens in any string, no value under a
 * secret-sounding key, no `secrets` / `availableSecrets.inline` (KMS-encrypted values
 * in the file), no `secretEnv`.
 */
export function secretProblems(text: string, config: BuildConfig): string[] {
  const problems: string[] = [];
  for (const [what, pattern] of SECRET_PATTERNS) {
    if (pattern.test(text)) problems.push(`the file contains ${what}`);
  }
  if (config.secrets !== undefined)
    problems.push('the file carries encrypted secrets (secrets:)');
  const available = config.availableSecrets as {inline?: unknown} | undefined;
  if (available?.inline !== undefined)
    problems.push(
      'the file carries encrypted secrets (availableSecrets.inline)',
    );
  const walk = (value: unknown, path: string): void => {
    if (Array.isArray(value)) value.forEach((v, i) => walk(v, `${path}[${i}]`));
    else if (typeof value === 'object' && value !== null) {
      for (const [k, v] of Object.entries(value)) {
        if (k === 'secretEnv')
          problems.push(`${path}.${k}: secretEnv is not used by this pipeline`);
        if (SECRET_KEYS.test(k) && typeof v === 'string' && v !== '') {
          problems.push(`${path}.${k}: a secret-sounding key with a value`);
        }
        walk(v, `${path}.${k}`);
      }
    } else if (typeof value === 'string') {
      for (const m of value.matchAll(
        /\b([A-Z_]*(PASSWORD|SECRET|TOKEN|API_KEY)[A-Z_]*)=([^\s$]+)/g,
      )) {
        problems.push(`${path}: ${m[1]} is set to a literal value`);
      }
    }
  };
  walk(config, '');
  return problems;
}

/** Every step id that `id` waits for, directly or not. */
export function dependencies(config: BuildConfig, id: string): Set<string> {
  const byId = new Map(steps(config).map(s => [String(s.id), s]));
  const out = new Set<string>();
  const visit = (x: string): void => {
    const waits = byId.get(x)?.waitFor;
    for (const w of Array.isArray(waits) ? waits : []) {
      if (typeof w === 'string' && w !== '-' && !out.has(w)) {
        out.add(w);
        visit(w);
      }
    }
  };
  visit(id);
  return out;
}

/**
 * The workspace paths a step writes, as far as its command tells: `npm ci` writes
 * node_modules, a build writes build/, scripts/node24.sh in an image without Node 24
 * installs into .tools, `terraform init` writes the root's .terraform, `-out=F` writes
 * F, the packaging script writes its zip, `gcloud storage cp ... /workspace/D/` writes D.
 */
export function writes(step: BuildStep): string[] {
  const args = Array.isArray(step.args) ? step.args.map(String) : [];
  const text = [String(step.entrypoint ?? ''), ...args].join(' ');
  const dir = typeof step.dir === 'string' ? `${step.dir}/` : '';
  const image = String(step.name ?? '');
  const out: string[] = [];
  if (/\bnpm\s+(ci|install|i)\b/.test(text)) out.push('node_modules');
  if (/\bnpm\s+run\s+(build|gcp-build)\b|\btsc\b/.test(text)) out.push('build');
  if (/node24\.sh/.test(text) && !/^node:24\b/.test(image)) out.push('.tools');
  if (/(^|\s)init(\s|$)/.test(text) && /terraform/.test(image)) {
    out.push(`${dir}.terraform`);
  }
  for (const m of text.matchAll(/-out=(\S+)/g)) out.push(`${dir}${m[1]}`);
  const pkg = /package-function\.py(?:\s+(\S+))?/.exec(text);
  if (pkg) out.push(pkg[1] ?? 'function-source.zip');
  if (/gcloud storage cp/.test(text)) {
    for (const m of text.matchAll(/\/workspace\/([^/\s]+)\//g)) out.push(m[1]!);
  }
  return [...new Set(out)];
}

/** No two steps that may run at the same time write the same workspace path. */
export function concurrentWriteProblems(config: BuildConfig): string[] {
  const problems: string[] = [];
  const list = steps(config);
  for (const [i, a] of list.entries()) {
    for (const b of list.slice(i + 1)) {
      const ida = String(a.id);
      const idb = String(b.id);
      if (
        dependencies(config, ida).has(idb) ||
        dependencies(config, idb).has(ida)
      ) {
        continue;
      }
      const shared = writes(a).filter(p => writes(b).includes(p));
      for (const p of shared) {
        problems.push(`${ida} and ${idb} may run at once and both write ${p}`);
      }
    }
  }
  return problems;
}
