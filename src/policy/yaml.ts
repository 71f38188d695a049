/**
 * The YAML edge of the policy: text in, plain data out, with the hazards of YAML closed
 * before any value reaches the schema.
 */

import {isScalar, LineCounter, parseDocument, visit} from 'yaml';
import type {Issues} from './issues.ts';

/**
 * Largest policy accepted, in UTF-8 bytes. A real policy is a few KB; the cap bounds the
 * work a hostile or corrupted document (e.g. a wrong Secret Manager version) can cause.
 */
export const MAX_POLICY_BYTES = 1024 * 1024;

/**
 * Most alias expansions allowed. Anchors are handy for repeated scope lists, but each
 * alias is copied when converted to data, so unbounded aliasing is an exponential
 * "billion laughs" expansion.
 */
export const MAX_ALIAS_COUNT = 100;

/**
 * Parses one YAML document into plain data (mappings become objects whose keys are all
 * own properties, `__proto__` included; the schema then checks every key). Returns
 * undefined after recording issues when the text is not one well-formed document.
 *
 * The YAML 1.2 core schema is used: `yes`/`on` stay strings and dates stay strings, so
 * the schema sees exactly what was written.
 */
export function readYaml(text: string, issues: Issues): unknown {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_POLICY_BYTES) {
    issues.add(
      [],
      `policy is ${bytes} bytes, larger than the ${MAX_POLICY_BYTES}-byte limit`,
    );
    return undefined;
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    schema: 'core',
    // Keys are checked below, as the data's property names (uniqueKeys compares each
    // key with every other of its mapping, and compares YAML values, not names).
    uniqueKeys: false,
    merge: false, // `<<` is an ordinary (and so unknown) key; `!!merge <<` is refused below
    strict: true,
    prettyErrors: true,
    version: '1.2',
    lineCounter,
  });
  if (doc.errors.length > 0) {
    for (const e of doc.errors) issues.add([], yamlMessage(e));
    return undefined;
  }
  const at = (key: unknown): string => {
    const offset = (key as {range?: [number]} | null)?.range?.[0];
    if (offset === undefined) return '';
    const {line, col} = lineCounter.linePos(offset);
    return ` at line ${line}, column ${col}`;
  };
  const before = issues.count;
  visit(doc, {
    Map(_, map) {
      const names = new Set<string>();
      for (const {key} of map.items) {
        // A key becomes a property name: a collection, an alias, or a tagged value
        // that is none of string, number, boolean and null (a `!!timestamp`, a
        // `!!binary`, a `!!merge <<`, which yaml merges whatever the merge option)
        // would be written out as text or merged in, and no policy key is one.
        if (!isScalar(key) || !plain(key.value)) {
          issues.add([], `YAML: a mapping key must be a plain value${at(key)}`);
          continue;
        }
        // The name the key has in the data (`1` and "1" are one name, null is ""):
        // a second key of one name would silently replace the first.
        const name = key.value === null ? '' : String(key.value);
        if (names.has(name)) {
          issues.add([], `YAML: Map keys must be unique${at(key)}`);
        }
        names.add(name);
      }
    },
  });
  if (issues.count > before) return undefined;
  try {
    return doc.toJS({maxAliasCount: MAX_ALIAS_COUNT});
  } catch (e) {
    // toJS throws a ReferenceError when aliases expand past maxAliasCount.
    issues.add([], `YAML: ${e instanceof Error ? e.message : String(e)}`);
    return undefined;
  }
}

function plain(value: unknown): boolean {
  return (
    value === null ||
    typeof value === 'string' ||
    typeof value === 'number' ||
    typeof value === 'boolean'
  );
}

function yamlMessage(e: {message: string}): string {
  // prettyErrors appends "at line L, column C:" and a code excerpt; keep the first line.
  const first = e.message.split('\n')[0] ?? e.message;
  return `YAML: ${first.replace(/:$/, '')}`;
}
