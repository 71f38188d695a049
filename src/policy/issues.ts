/**
 * Policy issues: every problem found in a policy document is collected with its path, so
 * an operator sees all of them at once (`tvm policy check`) instead of fixing one per
 * run.
 */

import type {PolicyIssue} from '../errors.ts';

/** One step of a path into the document: a mapping key or a sequence index. */
export type PathSegment = string | number;

/** Keys that can be written after a dot without ambiguity. */
const PLAIN_KEY = /^[A-Za-z0-9_-]+$/;

/**
 * Formats a path the way an operator reads YAML: dots for keys, brackets for indices,
 * e.g. `clients.nightly-export.allow[0].scopes[1]`. A key that is not plain (a client id
 * with a dot, `__proto__` is plain) is written as `["my.client"]` so the path stays
 * unambiguous.
 */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (PLAIN_KEY.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** Collects issues under a common path prefix. */
export class Issues {
  readonly #list: PolicyIssue[];
  readonly #prefix: readonly PathSegment[];

  constructor(list: PolicyIssue[] = [], prefix: readonly PathSegment[] = []) {
    this.#list = list;
    this.#prefix = prefix;
  }

  /** Records a problem at `path` (relative to this collector's prefix). */
  add(path: readonly PathSegment[], message: string): void {
    this.#list.push(
      Object.freeze({path: formatPath([...this.#prefix, ...path]), message}),
    );
  }

  /** A collector that writes into the same list, below `path`. */
  at(...path: PathSegment[]): Issues {
    return new Issues(this.#list, [...this.#prefix, ...path]);
  }

  get count(): number {
    return this.#list.length;
  }

  list(): readonly PolicyIssue[] {
    return this.#list;
  }
}
