/**
 * The YAML edge of the policy: text in, plain data out, with the hazards of YAML closed
 * before any value reaches the schema.
 */

import {parseDocument} from 'yaml';
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
  const doc = parseDocument(text, {
    schema: 'core',
    uniqueKeys: true, // a duplicated key would silently override the first
    merge: false, // `<<` is an ordinary (and so unknown) key
    strict: true,
    prettyErrors: true,
    version: '1.2',
  });
  if (doc.errors.length > 0) {
    for (const e of doc.errors) issues.add([], yamlMessage(e));
    return undefined;
  }
  try {
    return doc.toJS({maxAliasCount: MAX_ALIAS_COUNT});
  } catch (e) {
    // toJS throws a ReferenceError when aliases expand past maxAliasCount.
    issues.add([], `YAML: ${e instanceof Error ? e.message : String(e)}`);
    return undefined;
  }
}

function yamlMessage(e: {message: string}): string {
  // prettyErrors appends "at line L, column C:" and a code excerpt; keep the first line.
  const first = e.message.split('\n')[0] ?? e.message;
  return `YAML: ${first.replace(/:$/, '')}`;
}
