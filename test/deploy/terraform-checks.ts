/**
 * Offline checks of Terraform configurations: no terraform binary, provider or Google
 * project is reachable here, so the configuration is parsed with HashiCorp's own HCL
 * parser (the WebAssembly build in @cdktf/hcl2json) and checked against a table of the
 * Google provider's schema (test/deploy/google-provider-schema.json, derived by
 * scripts/provider-schema/generate.ts).
 *
 * Every check returns a list of problems (empty: fine), each naming the file and the
 * path in it, so a test can assert both that the real configuration is clean and that
 * a bad snippet is caught.
 */
import {readFileSync, readdirSync} from 'node:fs';
import {join} from 'node:path';
import {getReferencesInExpression, parse} from '@cdktf/hcl2json';

/** A value as hcl2json renders it: expressions are strings holding `${...}`. */
export type HclValue =
  string | number | boolean | null | HclValue[] | {[key: string]: HclValue};
export type HclBody = {[key: string]: HclValue};

export interface TfFile {
  readonly path: string;
  readonly body: HclBody;
}

/** The .tf files of one directory: one Terraform module. */
export interface Configuration {
  readonly dir: string;
  readonly files: readonly TfFile[];
}

export interface SchemaBlock {
  readonly nesting?: 'single' | 'list';
  readonly min?: 1;
  readonly required: readonly string[];
  readonly optional: readonly string[];
  readonly computed?: readonly string[];
  readonly blocks: Readonly<Record<string, SchemaBlock>>;
}

export interface SchemaTable {
  readonly provider: string;
  readonly provider_version: string;
  readonly provider_config: SchemaBlock;
  readonly resource: Readonly<Record<string, SchemaBlock>>;
  readonly data: Readonly<Record<string, SchemaBlock>>;
}

/** One `resource` or `data` block. */
export interface Declared {
  readonly file: string;
  readonly kind: 'resource' | 'data';
  readonly type: string;
  readonly name: string;
  readonly body: HclBody;
}

/** Reads the schema table committed beside the tests. */
export function loadSchemaTable(): SchemaTable {
  const file = join(import.meta.dirname, 'google-provider-schema.json');
  return JSON.parse(readFileSync(file, 'utf8')) as SchemaTable;
}

interface SchemaChange {
  readonly kind: 'resource' | 'data';
  readonly type: string;
  readonly path: readonly string[];
  readonly remove?: string;
  readonly require?: string;
  readonly read_only?: string;
}

/**
 * The 7.x table: the committed 6.50.0 table with the changes the provider's 7.0.0
 * upgrade guide lists (test/deploy/google-provider-7-changes.json) applied: types,
 * arguments and blocks removed, arguments made required or read-only. A module that
 * passes both tables uses only what both majors accept.
 */
export function loadSchemaTableV7(
  base: SchemaTable = loadSchemaTable(),
): SchemaTable {
  const file = join(import.meta.dirname, 'google-provider-7-changes.json');
  const delta = JSON.parse(readFileSync(file, 'utf8')) as {
    provider_version: string;
    base_version: string;
    removed_types: {resource: string[]; data: string[]};
    changes: SchemaChange[];
  };
  if (delta.base_version !== base.provider_version) {
    throw new Error(
      `the 7.x changes apply to ${delta.base_version}, the table is ${base.provider_version}`,
    );
  }
  const table = structuredClone(base) as {
    -readonly [K in keyof SchemaTable]: SchemaTable[K];
  };
  const resource = {...table.resource} as Record<string, SchemaBlock>;
  const data = {...table.data} as Record<string, SchemaBlock>;
  for (const t of delta.removed_types.resource) delete resource[t];
  for (const t of delta.removed_types.data) delete data[t];
  for (const c of delta.changes) {
    let block = (c.kind === 'resource' ? resource : data)[c.type] as
      | {
          required: string[];
          optional: string[];
          computed?: string[];
          blocks: Record<string, SchemaBlock>;
        }
      | undefined;
    for (const p of c.path) block = block?.blocks[p] as typeof block;
    if (!block) throw new Error(`7.x change: no ${c.type} ${c.path.join('.')}`);
    const drop = (name: string) => {
      block!.required = block!.required.filter(n => n !== name);
      block!.optional = block!.optional.filter(n => n !== name);
      delete block!.blocks[name];
    };
    if (c.remove) drop(c.remove);
    if (c.require) {
      drop(c.require);
      block.required = [...block.required, c.require].sort();
    }
    if (c.read_only) {
      drop(c.read_only);
      block.computed = [...(block.computed ?? []), c.read_only].sort();
    }
  }
  table.resource = resource;
  table.data = data;
  table.provider_version = delta.provider_version;
  return table;
}

/** Parses every .tf file of `dir` (not its subdirectories, as Terraform does). */
export async function loadConfiguration(dir: string): Promise<Configuration> {
  const names = readdirSync(dir)
    .filter(n => n.endsWith('.tf'))
    .sort();
  const sources: Record<string, string> = {};
  for (const n of names) sources[n] = readFileSync(join(dir, n), 'utf8');
  return parseConfiguration(sources, dir);
}

/** Parses in-memory .tf sources, keyed by file name (for tests of the checks). */
export async function parseConfiguration(
  sources: Readonly<Record<string, string>>,
  dir = '(inline)',
): Promise<Configuration> {
  const files: TfFile[] = [];
  for (const [path, text] of Object.entries(sources)) {
    files.push({path, body: (await parse(path, text)) as HclBody});
  }
  return {dir, files};
}

export function isObject(v: HclValue | undefined): v is HclBody {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The bodies of a block-valued key (`key { ... }`, rendered as a list of objects). */
export function blocks(body: HclBody, key: string): HclBody[] {
  const v = body[key];
  return Array.isArray(v) ? v.filter(isObject) : [];
}

/** Labelled top-level blocks (`variable "x" {}`) of every file, by label. */
function labelled(
  conf: Configuration,
  key: string,
): Array<{file: string; name: string; body: HclBody}> {
  const out: Array<{file: string; name: string; body: HclBody}> = [];
  for (const f of conf.files) {
    const group = f.body[key];
    if (!isObject(group)) continue;
    for (const [name, list] of Object.entries(group)) {
      for (const body of Array.isArray(list) ? list.filter(isObject) : []) {
        out.push({file: f.path, name, body});
      }
    }
  }
  return out;
}

export function variables(conf: Configuration): Map<string, HclBody> {
  return new Map(labelled(conf, 'variable').map(v => [v.name, v.body]));
}

export function outputs(conf: Configuration): Map<string, HclBody> {
  return new Map(labelled(conf, 'output').map(v => [v.name, v.body]));
}

export function moduleCalls(conf: Configuration): Map<string, HclBody> {
  return new Map(labelled(conf, 'module').map(v => [v.name, v.body]));
}

export function locals(conf: Configuration): Map<string, HclValue> {
  const out = new Map<string, HclValue>();
  for (const f of conf.files) {
    for (const body of blocks(f.body, 'locals')) {
      for (const [k, v] of Object.entries(body)) out.set(k, v);
    }
  }
  return out;
}

/** Every `resource` and `data` block. */
export function declared(conf: Configuration): Declared[] {
  const out: Declared[] = [];
  for (const f of conf.files) {
    for (const kind of ['resource', 'data'] as const) {
      const group = f.body[kind];
      if (!isObject(group)) continue;
      for (const [type, named] of Object.entries(group)) {
        if (!isObject(named)) continue;
        for (const [name, list] of Object.entries(named)) {
          for (const body of Array.isArray(list) ? list.filter(isObject) : []) {
            out.push({file: f.path, kind, type, name, body});
          }
        }
      }
    }
  }
  return out;
}

export function resourcesOfType(conf: Configuration, type: string): Declared[] {
  return declared(conf).filter(d => d.kind === 'resource' && d.type === type);
}

/** Every string in a value, with its path, depth first. */
export function* strings(
  value: HclValue | undefined,
  path: string,
): Generator<{path: string; value: string}> {
  if (typeof value === 'string') yield {path, value};
  else if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) yield* strings(v, `${path}[${i}]`);
  } else if (isObject(value)) {
    for (const [k, v] of Object.entries(value))
      yield* strings(v, `${path}.${k}`);
  }
}

// ---------------------------------------------------------------------------------------
// Schema: types, arguments and blocks exist; required ones are present
// ---------------------------------------------------------------------------------------

const RESOURCE_META = new Set([
  'count',
  'for_each',
  'provider',
  'depends_on',
  'lifecycle',
  'connection',
  'provisioner',
]);
const DATA_META = new Set([
  'count',
  'for_each',
  'provider',
  'depends_on',
  'lifecycle',
]);
const LIFECYCLE_KEYS = new Set([
  'create_before_destroy',
  'prevent_destroy',
  'ignore_changes',
  'replace_triggered_by',
  'precondition',
  'postcondition',
]);

function checkBody(
  body: HclBody,
  schema: SchemaBlock,
  where: string,
  meta: ReadonlySet<string>,
  problems: string[],
): void {
  const attributes = new Set([...schema.required, ...schema.optional]);
  const computed = new Set(schema.computed ?? []);
  const present = new Set<string>();
  for (const [key, value] of Object.entries(body)) {
    if (meta.has(key)) {
      if (key === 'lifecycle') {
        for (const lc of blocks(body, 'lifecycle')) {
          for (const k of Object.keys(lc)) {
            if (!LIFECYCLE_KEYS.has(k))
              problems.push(`${where}.lifecycle: unknown argument "${k}"`);
          }
        }
      }
      continue;
    }
    if (key === 'dynamic') {
      if (!isObject(value)) continue;
      for (const [name, list] of Object.entries(value)) {
        const nested = schema.blocks[name];
        if (!nested) {
          problems.push(
            `${where}: dynamic "${name}" is not a block of this type`,
          );
          continue;
        }
        present.add(name);
        for (const dyn of Array.isArray(list) ? list.filter(isObject) : []) {
          if (dyn.for_each === undefined)
            problems.push(`${where}.dynamic.${name}: no for_each`);
          for (const content of blocks(dyn, 'content')) {
            checkBody(
              content,
              nested,
              `${where}.dynamic.${name}.content`,
              new Set(),
              problems,
            );
          }
        }
      }
      continue;
    }
    const nested = schema.blocks[key];
    if (nested) {
      present.add(key);
      const list = Array.isArray(value) ? value : [];
      if (!list.every(isObject) || list.length === 0) {
        problems.push(
          `${where}.${key}: is a block, write it as ${key} { ... }`,
        );
        continue;
      }
      if (nested.nesting === 'single' && list.length > 1) {
        problems.push(`${where}.${key}: at most one ${key} block is allowed`);
      }
      for (const b of list.filter(isObject)) {
        checkBody(b, nested, `${where}.${key}`, new Set(), problems);
      }
    } else if (attributes.has(key)) {
      present.add(key);
    } else if (computed.has(key)) {
      problems.push(
        `${where}: "${key}" is read-only (computed by the provider)`,
      );
    } else {
      problems.push(`${where}: unknown argument or block "${key}"`);
    }
  }
  for (const r of schema.required) {
    if (!present.has(r))
      problems.push(`${where}: required argument "${r}" is missing`);
  }
  for (const [name, b] of Object.entries(schema.blocks)) {
    if (b.min && !present.has(name))
      problems.push(`${where}: required block "${name}" is missing`);
  }
}

/**
 * Every resource and data source type exists in the provider, every argument and block
 * name exists on it (recursively, including `dynamic` blocks), no read-only attribute is
 * set, and every required argument and block is present. Provider blocks are checked
 * against the provider's own configuration schema.
 */
export function schemaProblems(
  conf: Configuration,
  table: SchemaTable,
): string[] {
  const problems: string[] = [];
  for (const d of declared(conf)) {
    const where = `${d.file}: ${d.kind === 'data' ? 'data.' : ''}${d.type}.${d.name}`;
    if (!d.type.startsWith('google_')) {
      problems.push(
        `${where}: only the google provider is known to these checks`,
      );
      continue;
    }
    const schema = (d.kind === 'resource' ? table.resource : table.data)[
      d.type
    ];
    if (!schema) {
      problems.push(
        `${where}: no ${d.kind === 'resource' ? 'resource' : 'data source'} type ${d.type} in ${table.provider} ${table.provider_version}`,
      );
      continue;
    }
    checkBody(
      d.body,
      schema,
      where,
      d.kind === 'resource' ? RESOURCE_META : DATA_META,
      problems,
    );
  }
  for (const p of labelled(conf, 'provider')) {
    if (p.name !== 'google') {
      problems.push(
        `${p.file}: provider.${p.name}: only the google provider is known to these checks`,
      );
      continue;
    }
    checkBody(
      p.body,
      table.provider_config,
      `${p.file}: provider.google`,
      new Set(['alias']),
      problems,
    );
  }
  return problems;
}

// ---------------------------------------------------------------------------------------
// References: var., local., module., data. and resource references resolve
// ---------------------------------------------------------------------------------------

/** Reads a module's outputs for `module.X.Y` references, by the call's `source`. */
export type ModuleOutputs = (source: string) => ReadonlySet<string> | undefined;

interface Scope {
  readonly where: string;
  readonly each: boolean;
  readonly count: boolean;
  /** Iterator names of enclosing dynamic blocks. */
  readonly iterators: ReadonlySet<string>;
}

const INDEX_SEGMENT = /^(\d+|".*")$/;

async function referencesIn(file: string, value: string): Promise<string[]> {
  if (!value.includes('${')) return [];
  const refs = await getReferencesInExpression(file, value);
  return refs.map(r => r.value);
}

/**
 * Every reference in every expression resolves: `var.X` to a variable, `local.X` to a
 * local value, `module.X` to a module call (and `module.X.Y` to one of its outputs when
 * the module's source is known), `data.T.N` and `T.N` to a declared block, and the
 * attribute after them to one the provider knows. `each` only where `for_each` is set,
 * `count` only where `count` is, and a counted or for_each block is referenced through
 * an index. Variable types are not expressions and are skipped; validation conditions
 * may refer to declared variables (Terraform 1.9 and later), never to locals or
 * resources.
 */
export async function referenceProblems(
  conf: Configuration,
  table: SchemaTable,
  moduleOutputs: ModuleOutputs = () => undefined,
): Promise<string[]> {
  const problems: string[] = [];
  const vars = variables(conf);
  const locs = locals(conf);
  const mods = moduleCalls(conf);
  const decls = new Map(
    declared(conf).map(d => [`${d.kind}.${d.type}.${d.name}`, d]),
  );

  const check = async (
    file: string,
    value: HclValue | undefined,
    scope: Scope,
  ): Promise<void> => {
    for (const s of strings(value, scope.where)) {
      for (const ref of await referencesIn(file, s.value)) {
        const problem = resolve(ref.split('.'), scope);
        if (problem) problems.push(`${file}: ${s.path}: ${ref}: ${problem}`);
      }
    }
  };

  const resolveDeclared = (
    kind: 'resource' | 'data',
    segs: string[],
  ): string | undefined => {
    const [type, name, ...rest] = segs;
    const d = decls.get(`${kind}.${type}.${name}`);
    if (!d) return `no ${kind} ${type}.${name} is declared`;
    const multi = d.body.count !== undefined || d.body.for_each !== undefined;
    const first = rest[0];
    if (first === undefined) return undefined;
    if (multi && !INDEX_SEGMENT.test(first)) {
      return `${type}.${name} has count or for_each: index it`;
    }
    if (!multi && INDEX_SEGMENT.test(first))
      return `${type}.${name} is a single instance`;
    const attr = multi ? rest[1] : first;
    if (attr === undefined) return undefined;
    const schema = (kind === 'resource' ? table.resource : table.data)[
      type ?? ''
    ];
    if (!schema) return undefined; // reported by schemaProblems
    const known = new Set([
      'id',
      ...schema.required,
      ...schema.optional,
      ...(schema.computed ?? []),
      ...Object.keys(schema.blocks),
    ]);
    return known.has(attr) ? undefined : `${type} has no attribute "${attr}"`;
  };

  const resolve = (segs: string[], scope: Scope): string | undefined => {
    const [root, second] = segs;
    switch (root) {
      case 'var':
        return vars.has(second ?? '') ? undefined : 'no such variable';
      case 'local':
        return locs.has(second ?? '') ? undefined : 'no such local value';
      case 'module': {
        const call = mods.get(second ?? '');
        if (!call) return 'no such module call';
        const out = segs[2];
        const known =
          typeof call.source === 'string'
            ? moduleOutputs(call.source)
            : undefined;
        if (out !== undefined && known && !known.has(out))
          return `the module has no output "${out}"`;
        return undefined;
      }
      case 'data':
        return resolveDeclared('data', segs.slice(1));
      case 'each':
        return scope.each
          ? undefined
          : 'each is only valid where for_each is set';
      case 'count':
        return scope.count
          ? undefined
          : 'count is only valid where count is set';
      case 'path':
      case 'terraform':
      case 'self':
        return undefined;
      default:
        if (root !== undefined && scope.iterators.has(root)) return undefined;
        if (root !== undefined && /^google_/.test(root)) {
          return resolveDeclared('resource', segs);
        }
        return 'unknown reference';
    }
  };

  const walkBlock = async (
    file: string,
    body: HclBody,
    scope: Scope,
  ): Promise<void> => {
    for (const [key, value] of Object.entries(body)) {
      const where = `${scope.where}.${key}`;
      if (key === 'lifecycle') {
        for (const lc of blocks(body, 'lifecycle')) {
          // ignore_changes names attributes, it refers to nothing.
          const rest = Object.entries(lc).filter(
            ([k]) => k !== 'ignore_changes',
          );
          await check(file, Object.fromEntries(rest), {...scope, where});
        }
      } else if (key === 'dynamic' && isObject(value)) {
        for (const [name, list] of Object.entries(value)) {
          for (const dyn of Array.isArray(list) ? list.filter(isObject) : []) {
            await check(file, dyn.for_each, {
              ...scope,
              where: `${where}.${name}`,
            });
            const iterator =
              typeof dyn.iterator === 'string' ? dyn.iterator : name;
            const inner = {
              ...scope,
              where: `${where}.${name}.content`,
              iterators: new Set([...scope.iterators, iterator]),
            };
            for (const content of blocks(dyn, 'content'))
              await walkBlock(file, content, inner);
          }
        }
      } else if (
        Array.isArray(value) &&
        value.length > 0 &&
        value.every(isObject)
      ) {
        for (const b of value.filter(isObject))
          await walkBlock(file, b, {...scope, where});
      } else {
        await check(file, value, {...scope, where});
      }
    }
  };

  const none: ReadonlySet<string> = new Set();
  for (const f of conf.files) {
    for (const d of declared(conf).filter(x => x.file === f.path)) {
      const where = `${d.kind === 'data' ? 'data.' : ''}${d.type}.${d.name}`;
      await walkBlock(f.path, d.body, {
        where,
        each: d.body.for_each !== undefined,
        count: d.body.count !== undefined,
        iterators: none,
      });
    }
    const top = {each: false, count: false, iterators: none};
    for (const v of labelled(conf, 'variable').filter(x => x.file === f.path)) {
      for (const [i, val] of blocks(v.body, 'validation').entries()) {
        for (const s of strings(val, `variable.${v.name}.validation[${i}]`)) {
          for (const ref of await referencesIn(f.path, s.value)) {
            const segs = ref.split('.');
            if (segs[0] !== 'var') {
              problems.push(
                `${f.path}: ${s.path}: ${ref}: a validation may refer to variables only`,
              );
            } else if (!vars.has(segs[1] ?? '')) {
              problems.push(`${f.path}: ${s.path}: ${ref}: no such variable`);
            }
          }
        }
      }
      await check(f.path, v.body.default, {
        ...top,
        where: `variable.${v.name}.default`,
      });
    }
    for (const o of labelled(conf, 'output').filter(x => x.file === f.path)) {
      await walkBlock(f.path, o.body, {...top, where: `output.${o.name}`});
    }
    for (const m of labelled(conf, 'module').filter(x => x.file === f.path)) {
      await walkBlock(f.path, m.body, {
        ...top,
        where: `module.${m.name}`,
        each: m.body.for_each !== undefined,
        count: m.body.count !== undefined,
      });
    }
    for (const body of blocks(f.body, 'locals')) {
      await check(f.path, body, {...top, where: 'locals'});
    }
    for (const p of labelled(conf, 'provider').filter(x => x.file === f.path)) {
      await walkBlock(f.path, p.body, {...top, where: `provider.${p.name}`});
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------
// Variables, module calls and version constraints
// ---------------------------------------------------------------------------------------

/**
 * Every variable has a type and a non-empty description; every validation has a
 * condition and an error message; an enumeration (`contains([...], var.x)`) lists every
 * allowed value in its error message.
 */
export function variableProblems(conf: Configuration): string[] {
  const problems: string[] = [];
  for (const v of labelled(conf, 'variable')) {
    const where = `${v.file}: variable.${v.name}`;
    if (typeof v.body.type !== 'string' || v.body.type === '')
      problems.push(`${where}: no type`);
    if (
      typeof v.body.description !== 'string' ||
      v.body.description.trim() === ''
    ) {
      problems.push(`${where}: no description`);
    }
    for (const [i, val] of blocks(v.body, 'validation').entries()) {
      const cond = val.condition;
      const message = val.error_message;
      if (typeof cond !== 'string' || !cond.includes(`var.${v.name}`)) {
        problems.push(
          `${where}.validation[${i}]: the condition does not test var.${v.name}`,
        );
      }
      if (typeof message !== 'string' || message.trim() === '') {
        problems.push(`${where}.validation[${i}]: no error_message`);
        continue;
      }
      for (const m of String(cond).matchAll(/contains\(\[([^\]]*)\]/g)) {
        for (const allowed of (m[1] ?? '').matchAll(/"([^"]*)"/g)) {
          if (!message.includes(allowed[1] ?? '')) {
            problems.push(
              `${where}.validation[${i}]: error_message does not list "${allowed[1]}"`,
            );
          }
        }
      }
    }
  }
  return problems;
}

const MODULE_META = new Set([
  'source',
  'version',
  'count',
  'for_each',
  'providers',
  'depends_on',
]);

/** A module call passes only the module's variables and every one without a default. */
export function moduleCallProblems(
  caller: Configuration,
  callName: string,
  module: Configuration,
): string[] {
  const call = moduleCalls(caller).get(callName);
  if (!call) return [`${caller.dir}: no module "${callName}"`];
  const vars = variables(module);
  const problems: string[] = [];
  for (const arg of Object.keys(call)) {
    if (!MODULE_META.has(arg) && !vars.has(arg)) {
      problems.push(`module.${callName}: the module has no variable "${arg}"`);
    }
  }
  for (const [name, body] of vars) {
    if (!('default' in body) && !(name in call)) {
      problems.push(
        `module.${callName}: required variable "${name}" is not set`,
      );
    }
  }
  return problems;
}

type Version = [number, number, number];

function parseVersion(s: string): Version {
  const [a = 0, b = 0, c = 0] = s.split('.').map(Number);
  return [a, b, c];
}

function compare(a: Version, b: Version): number {
  for (let i = 0; i < 3; i++)
    if (a[i] !== b[i]) return (a[i] ?? 0) - (b[i] ?? 0);
  return 0;
}

/** Whether `version` satisfies a Terraform constraint such as ">= 6.14.0, < 7.0.0". */
export function satisfies(version: string, constraint: string): boolean {
  const v = parseVersion(version);
  return constraint.split(',').every(part => {
    const m = /^\s*(>=|<=|>|<|=|!=|~>)?\s*([0-9.]+)\s*$/.exec(part);
    if (!m) return false;
    const want = parseVersion(m[2] ?? '');
    const c = compare(v, want);
    switch (m[1]) {
      case '>=':
        return c >= 0;
      case '<=':
        return c <= 0;
      case '>':
        return c > 0;
      case '<':
        return c < 0;
      case '!=':
        return c !== 0;
      case '~>': {
        const parts = (m[2] ?? '').split('.').length;
        const upper: Version =
          parts >= 3 ? [want[0], want[1] + 1, 0] : [want[0] + 1, 0, 0];
        return c >= 0 && compare(v, upper) < 0;
      }
      default:
        return c === 0;
    }
  });
}

/** Whether a constraint has both a lower and an upper bound (or pins one version). */
export function bounded(constraint: string): boolean {
  const ops = constraint
    .split(',')
    .map(part => /^\s*(>=|<=|>|<|!=|~>|=)?/.exec(part)?.[1] ?? '=');
  return (
    ops.includes('~>') ||
    ops.includes('=') ||
    (ops.some(o => o === '>=' || o === '>') &&
      ops.some(o => o === '<' || o === '<='))
  );
}

/**
 * The configuration pins Terraform and every provider between a lower and an upper
 * bound, and the provider version the schema table was derived from is allowed.
 */
export function versionProblems(
  conf: Configuration,
  table: SchemaTable,
): string[] {
  const problems: string[] = [];
  const tf = conf.files.flatMap(f => blocks(f.body, 'terraform'));
  if (tf.length === 0) return [`${conf.dir}: no terraform block`];
  const required = tf
    .map(t => t.required_version)
    .find(v => typeof v === 'string');
  if (typeof required !== 'string' || !bounded(required)) {
    problems.push(
      `${conf.dir}: required_version must have a lower and an upper bound`,
    );
  }
  const providers = tf.flatMap(t => blocks(t, 'required_providers'));
  const google = providers.map(p => p.google).find(isObject);
  if (!google)
    return [...problems, `${conf.dir}: google is not in required_providers`];
  for (const p of providers) {
    for (const [name, spec] of Object.entries(p)) {
      if (
        !isObject(spec) ||
        typeof spec.version !== 'string' ||
        !bounded(spec.version)
      ) {
        problems.push(
          `${conf.dir}: provider ${name}: version must have a lower and an upper bound`,
        );
      }
      if (!isObject(spec) || typeof spec.source !== 'string') {
        problems.push(`${conf.dir}: provider ${name}: no source`);
      }
    }
  }
  if (google.source !== 'hashicorp/google') {
    problems.push(`${conf.dir}: google's source must be hashicorp/google`);
  }
  if (
    typeof google.version === 'string' &&
    !satisfies(table.provider_version, google.version)
  ) {
    problems.push(
      `${conf.dir}: google ${google.version} excludes ${table.provider_version}, the version these checks know`,
    );
  }
  return problems;
}

// ---------------------------------------------------------------------------------------
// Least privilege
// ---------------------------------------------------------------------------------------

const BASIC_ROLE = /\broles\/(owner|editor|viewer)\b/;
const HIGH_LEVEL_IAM =
  /^google_(project|folder|organization|billing_account)_iam_(member|binding|policy)$/;
const AUTHORITATIVE_IAM = /^google_.*_iam_(binding|policy)$/;
const PUBLIC_MEMBERS = new Set(['allUsers', 'allAuthenticatedUsers']);
const INVOKER_ROLES = new Set([
  'roles/run.invoker',
  'roles/cloudfunctions.invoker',
]);
const KEY_RESOURCES = new Set(['google_service_account_key']);

export interface LeastPrivilegeOptions {
  /**
   * Roles that may be granted at project level because no lower resource can hold them.
   * Empty for tvm: everything it needs is grantable on the resource itself.
   */
  readonly projectRolesAllowed?: readonly string[];
}

/**
 * Least-privilege rules for a configuration:
 * - no basic role (owner, editor, viewer) anywhere, not even inside an expression;
 * - no project-, folder-, organization- or billing-level grant (beyond the explicitly
 *   allowed roles), so token creation and secret access stay on one account or secret;
 * - no authoritative `_iam_binding` / `_iam_policy`, which would silently remove grants
 *   that others made;
 * - no service-account key created by Terraform (it would sit in the state);
 * - allUsers / allAuthenticatedUsers only as an invoker, and only behind a `count` or
 *   `for_each` driven by a variable, so making the service public is an explicit choice.
 */
export function leastPrivilegeProblems(
  conf: Configuration,
  options: LeastPrivilegeOptions = {},
): string[] {
  const problems: string[] = [];
  const allowed = new Set(options.projectRolesAllowed ?? []);
  for (const f of conf.files) {
    for (const s of strings(f.body, '')) {
      const m = BASIC_ROLE.exec(s.value);
      if (m)
        problems.push(
          `${f.path}: ${s.path.slice(1)}: basic role ${m[0]} is too broad`,
        );
    }
  }
  for (const d of declared(conf)) {
    if (d.kind !== 'resource') continue;
    const where = `${d.file}: ${d.type}.${d.name}`;
    const role = typeof d.body.role === 'string' ? d.body.role : undefined;
    if (KEY_RESOURCES.has(d.type)) {
      problems.push(`${where}: Terraform must not create service-account keys`);
    }
    if (HIGH_LEVEL_IAM.test(d.type) && !(role && allowed.has(role))) {
      problems.push(
        `${where}: ${role ?? 'a'} grant at ${d.type.split('_')[1]} level; grant it on the resource instead`,
      );
    }
    if (AUTHORITATIVE_IAM.test(d.type)) {
      problems.push(
        `${where}: authoritative IAM removes others' grants; use _iam_member`,
      );
    }
    const members = [
      d.body.member,
      ...(Array.isArray(d.body.members) ? d.body.members : []),
    ];
    for (const member of members) {
      if (typeof member !== 'string' || !PUBLIC_MEMBERS.has(member)) continue;
      if (!role || !INVOKER_ROLES.has(role)) {
        problems.push(
          `${where}: ${member} may only be an invoker, not ${role ?? 'this role'}`,
        );
      }
      const gate = d.body.count ?? d.body.for_each;
      if (typeof gate !== 'string' || !gate.includes('var.')) {
        problems.push(
          `${where}: public access must be behind a variable (count or for_each)`,
        );
      }
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------
// Formatting: the alignment `terraform fmt` enforces
// ---------------------------------------------------------------------------------------

/**
 * Lines of HCL source as `terraform fmt` groups them: a heredoc belongs to the line
 * that opens it.
 */
function logicalLines(text: string): Array<{line: number; text: string}> {
  const lines = text.split('\n');
  const out: Array<{line: number; text: string}> = [];
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i] ?? '';
    out.push({line: i + 1, text: l});
    const heredoc = /<<-?([A-Za-z_]+)\s*$/.exec(l);
    if (heredoc) {
      while (i + 1 < lines.length && lines[i + 1]?.trim() !== heredoc[1]) i++;
      i++;
    }
  }
  return out;
}

/**
 * The column of a line's attribute `=` when hclwrite would align it: the `=` is not the
 * first token and the expression after it opens no bracket it does not close.
 */
function assignColumn(l: string): number | undefined {
  const stack: Array<'code' | 'str' | 'interp'> = ['code'];
  const brackets: number[] = [0];
  let eq: number | undefined;
  let net = 0;
  for (let i = 0; i < l.length; i++) {
    const c = l[i]!;
    const top = stack[stack.length - 1];
    if (top === 'str') {
      if (c === '\\') i++;
      else if (c === '"') stack.pop();
      else if (l.startsWith('${', i)) {
        stack.push('interp');
        brackets.push(0);
        i++;
      }
      continue;
    }
    if (c === '#' || l.startsWith('//', i)) break;
    if (c === '"') stack.push('str');
    else if ('([{'.includes(c)) {
      brackets[brackets.length - 1]!++;
      if (eq !== undefined && stack.length === 1) net++;
    } else if (')]}'.includes(c)) {
      if (top === 'interp' && brackets[brackets.length - 1] === 0) {
        stack.pop();
        brackets.pop();
      } else {
        brackets[brackets.length - 1]!--;
        if (eq !== undefined && stack.length === 1) net--;
      }
    } else if (
      c === '=' &&
      stack.length === 1 &&
      eq === undefined &&
      !'=>'.includes(l[i + 1] ?? ' ') &&
      !'=!<>'.includes(l[i - 1] ?? ' ') &&
      l.slice(0, i).trim() !== ''
    ) {
      if (brackets[0] !== 0) return undefined; // an `=` inside a bracket on this line
      eq = i;
    }
  }
  return eq !== undefined && net === 0 ? eq : undefined;
}

/**
 * Consecutive attribute lines align their `=` one column after the longest name, as
 * `terraform fmt` does (hclwrite's formatCells: a blank line, a comment line or a line
 * opening a multi-line expression ends a run). Not the whole of `terraform fmt`; the
 * part that hand-written HCL most often gets wrong.
 */
export function formatProblems(file: string, text: string): string[] {
  const problems: string[] = [];
  let run: Array<{line: number; text: string; eq: number}> = [];
  const close = (): void => {
    const want =
      Math.max(...run.map(r => r.text.slice(0, r.eq).trimEnd().length)) + 1;
    for (const r of run) {
      if (r.eq !== want) {
        problems.push(
          `${file}:${r.line}: "=" at column ${r.eq + 1}, terraform fmt puts it at ${want + 1}`,
        );
      }
    }
    run = [];
  };
  for (const l of logicalLines(text)) {
    const eq = assignColumn(l.text);
    if (eq === undefined) {
      if (run.length > 0) close();
    } else run.push({...l, eq});
  }
  if (run.length > 0) close();
  for (const l of logicalLines(text)) {
    if (/[ \t]+$/.test(l.text))
      problems.push(`${file}:${l.line}: trailing whitespace`);
    if (/^\t/.test(l.text)) problems.push(`${file}:${l.line}: tab indentation`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------
// Values the provider would silently drop or store
// ---------------------------------------------------------------------------------------

/**
 * No map argument holds an empty string: the Google provider drops empty map values
 * (an environment variable set to "" never reaches the function or its build), so such
 * an entry does nothing while looking like a setting.
 */
export function emptyMapValueProblems(conf: Configuration): string[] {
  const problems: string[] = [];
  const walk = (value: HclValue | undefined, path: string): void => {
    if (Array.isArray(value)) value.forEach((v, i) => walk(v, `${path}[${i}]`));
    else if (isObject(value)) {
      for (const [k, v] of Object.entries(value)) {
        if (v === '')
          problems.push(
            `${path}.${k}: an empty string in a map is dropped by the provider`,
          );
        else walk(v, `${path}.${k}`);
      }
    }
  };
  for (const d of declared(conf)) {
    walk(d.body, `${d.file}: ${d.type}.${d.name}`);
  }
  return problems;
}

const SECRET_ATTRIBUTES =
  /\.(auth_string|secret_data|private_key|server_ca_certs|access_token)\b/;

/** No output hands out a secret attribute (Redis AUTH strings, secret payloads, keys). */
export function secretOutputProblems(conf: Configuration): string[] {
  const problems: string[] = [];
  for (const [name, body] of outputs(conf)) {
    for (const s of strings(body.value, `output.${name}`)) {
      const m = SECRET_ATTRIBUTES.exec(s.value);
      if (m) problems.push(`${s.path}: exposes ${m[1]}`);
    }
  }
  return problems;
}

/**
 * Every Secret Manager version is kept when replaced or removed (deletion_policy
 * ABANDON or DISABLE, never the default DELETE) and is replaced create-before-destroy,
 * so the previous policy stays for a rollback and `latest` always resolves.
 */
export function versionRetentionProblems(conf: Configuration): string[] {
  const problems: string[] = [];
  for (const d of resourcesOfType(
    conf,
    'google_secret_manager_secret_version',
  )) {
    const where = `${d.file}: ${d.type}.${d.name}`;
    if (
      d.body.deletion_policy !== 'ABANDON' &&
      d.body.deletion_policy !== 'DISABLE'
    ) {
      problems.push(
        `${where}: deletion_policy must be ABANDON or DISABLE, or a replaced version is destroyed`,
      );
    }
    if (blocks(d.body, 'lifecycle')[0]?.create_before_destroy !== true) {
      problems.push(
        `${where}: needs lifecycle { create_before_destroy = true }`,
      );
    }
  }
  return problems;
}
