/**
 * Credential Access Boundaries (Google's downscoping, applied by STS): the rules a
 * grant allows or forces, the boundary a caller asks for, and whether one lies within
 * the other. Values are checked as Google documents them: at most 10 rules; each a
 * full resource name, `inRole:` roles, and an optional CEL availability condition of
 * at most 2048 characters (checked lexically, src/policy/cel.ts).
 *
 * A compiled boundary is normalised: permissions sorted and unique, rules in a
 * canonical order, so two requests for the same boundary share one cached token and
 * the JSON sent to STS is exactly what was checked.
 */

import {createHash} from 'node:crypto';
import * as z from '../zod.ts';
import {celProblem, MAX_CEL_EXPRESSION_CHARS} from './cel.ts';
import {fail, ok, type Parsed} from './result.ts';

/** Google's limit on the rules of one boundary. */
export const MAX_BOUNDARY_RULES = 10;
/** Roles listed in one rule, at most (a bound of tvm's; Google lists no limit). */
export const MAX_RULE_PERMISSIONS = 20;
/** Longest `availableResource` accepted. */
export const MAX_RESOURCE_CHARS = 1024;
/** Longest condition title or description accepted. */
export const MAX_CONDITION_TEXT_CHARS = 1024;
/** Longest `access_boundary` request parameter read (before it is parsed). */
export const MAX_BOUNDARY_PARAM_CHARS = 8192;

/**
 * A Cloud Storage bucket's full resource name, the only resource a Credential Access
 * Boundary may name (Cloud Storage is the one service that enforces boundaries): a
 * bucket name of 3 to 222 characters (Cloud Storage's naming rules).
 */
const FULL_RESOURCE_NAME =
  /^\/\/storage\.googleapis\.com\/projects\/_\/buckets\/[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/;
/** `inRole:` and a predefined or custom role name. */
const IN_ROLE =
  /^inRole:(?:roles|projects\/[a-z][a-z0-9-]{4,28}[a-z0-9]\/roles|organizations\/[0-9]{1,20}\/roles)\/[A-Za-z0-9_.]{1,128}$/;

export interface BoundaryCondition {
  /** A CEL expression; true makes the rule available. */
  readonly expression: string;
  readonly title?: string;
  readonly description?: string;
}

/** One access boundary rule: roles available on one resource, maybe under a condition. */
export interface BoundaryRule {
  readonly resource: string;
  /** `inRole:` values, sorted, without duplicates. */
  readonly permissions: readonly string[];
  readonly condition?: BoundaryCondition;
}

/** A compiled Credential Access Boundary. */
export interface AccessBoundary {
  /** In canonical order. */
  readonly rules: readonly BoundaryRule[];
  /**
   * Google's JSON of it, `{"accessBoundary":{"accessBoundaryRules":[...]}}`: the STS
   * `options` and the DownscopedClient's `credentialAccessBoundary`.
   */
  readonly json: string;
  /** SHA-256 hex of `json`: its identity in cache keys and (cut short) in audit records. */
  readonly sha256: string;
}

/** Checks a rule's `availableResource`. */
export function parseResource(s: string): Parsed<string> {
  if (s.length > MAX_RESOURCE_CHARS || !FULL_RESOURCE_NAME.test(s)) {
    return fail(
      'must be the full resource name of a Cloud Storage bucket, //storage.googleapis.com/projects/_/buckets/BUCKET (Cloud Storage is the only service that enforces access boundaries)',
    );
  }
  return ok(s);
}

/** Checks one of a rule's `availablePermissions`. */
export function parsePermission(s: string): Parsed<string> {
  if (!IN_ROLE.test(s)) {
    return fail(
      'must be an IAM role as inRole:roles/ROLE (e.g. inRole:roles/storage.objectViewer); Credential Access Boundaries take roles, not single permissions',
    );
  }
  return ok(s);
}

/** Checks an availability condition's expression. */
export function parseExpression(s: string): Parsed<string> {
  const problem = celProblem(s);
  return problem === undefined
    ? ok(s)
    : fail(`is not a valid CEL expression: it ${problem}`);
}

/** Compiles rules already checked value by value into a normalised boundary. */
export function compileBoundary(
  rules: readonly BoundaryRule[],
): AccessBoundary {
  const normal = rules.map(r =>
    Object.freeze({
      resource: r.resource,
      permissions: Object.freeze([...new Set(r.permissions)].sort()),
      ...(r.condition === undefined
        ? {}
        : {condition: Object.freeze({...r.condition})}),
    }),
  );
  const wire = normal.map(googleRule);
  const order = wire.map((w, i) => [JSON.stringify(w), i] as const).sort();
  const sorted = Object.freeze(order.map(([, i]) => normal[i]!));
  const json = JSON.stringify({
    accessBoundary: {accessBoundaryRules: order.map(([, i]) => wire[i]!)},
  });
  return Object.freeze({
    rules: sorted,
    json,
    sha256: createHash('sha256').update(json).digest('hex'),
  });
}

/** A rule in Google's JSON shape. */
function googleRule(r: BoundaryRule): Record<string, unknown> {
  return {
    availableResource: r.resource,
    availablePermissions: r.permissions,
    ...(r.condition === undefined
      ? {}
      : {
          availabilityCondition: {
            expression: r.condition.expression,
            ...(r.condition.title === undefined
              ? {}
              : {title: r.condition.title}),
            ...(r.condition.description === undefined
              ? {}
              : {description: r.condition.description}),
          },
        }),
  };
}

/**
 * Why `asked` is wider than `allowed`, or undefined when it lies within. Each asked
 * rule must lie within one allowed rule: the same resource, a subset of its roles
 * (compared by name: a narrower role the grant does not list is refused), and, when
 * the allowed rule has a condition, the very same expression (an allowed rule without
 * one admits any condition, which only narrows). Titles and descriptions are labels.
 */
export function widening(
  asked: AccessBoundary,
  allowed: AccessBoundary,
): string | undefined {
  for (const [i, r] of asked.rules.entries()) {
    const candidates = allowed.rules.filter(a => a.resource === r.resource);
    if (candidates.length === 0) {
      return `rule ${i + 1}: resource ${r.resource} is not allowed`;
    }
    const fits = candidates.some(
      a =>
        r.permissions.every(p => a.permissions.includes(p)) &&
        (a.condition === undefined ||
          a.condition.expression === r.condition?.expression),
    );
    if (!fits) {
      const roles = candidates.some(a =>
        r.permissions.every(p => a.permissions.includes(p)),
      );
      return roles
        ? `rule ${i + 1}: on ${r.resource} the grant requires its availability condition, word for word`
        : `rule ${i + 1}: on ${r.resource} only ${[...new Set(candidates.flatMap(a => a.permissions))].join(', ')} may be asked for`;
    }
  }
  return undefined;
}

const string = (max: number) =>
  z.string().check(z.minLength(1), z.maxLength(max));

/** A Credential Access Boundary as a caller sends it: Google's own JSON shape. */
const requestSchema = z.strictObject({
  accessBoundary: z.strictObject({
    accessBoundaryRules: z
      .array(
        z.strictObject({
          availableResource: string(MAX_RESOURCE_CHARS),
          availablePermissions: z
            .array(string(256))
            .check(z.minLength(1), z.maxLength(MAX_RULE_PERMISSIONS)),
          availabilityCondition: z.optional(
            z.strictObject({
              expression: string(MAX_CEL_EXPRESSION_CHARS),
              title: z.optional(string(MAX_CONDITION_TEXT_CHARS)),
              description: z.optional(string(MAX_CONDITION_TEXT_CHARS)),
            }),
          ),
        }),
      )
      .check(z.minLength(1), z.maxLength(MAX_BOUNDARY_RULES)),
  }),
});

/**
 * Parses the `access_boundary` a caller sent: bounded before it is read, then Google's
 * JSON shape, strictly, then each value as the policy's are. The message names the
 * place of the first problem, never the value.
 */
export function parseRequestedBoundary(text: string): Parsed<AccessBoundary> {
  if (text.length > MAX_BOUNDARY_PARAM_CHARS) {
    return fail(`is longer than ${MAX_BOUNDARY_PARAM_CHARS} characters`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return fail('is not JSON');
  }
  const r = requestSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const at = issue.path
      .map(p => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
      .join('');
    const what =
      issue.code === 'unrecognized_keys'
        ? `unknown member ${issue.keys.map(k => JSON.stringify(k.slice(0, 40))).join(', ')}`
        : issue.code === 'too_big' && issue.origin === 'array'
          ? `at most ${String(issue.maximum)} entries`
          : issue.code === 'too_small' && issue.origin === 'array'
            ? 'must not be empty'
            : issue.code === 'too_big' && issue.origin === 'string'
              ? `at most ${String(issue.maximum)} characters`
              : 'expected {"accessBoundary":{"accessBoundaryRules":[{"availableResource","availablePermissions","availabilityCondition"?}]}}';
    return fail(`${at.slice(1) || '(top level)'}: ${what}`);
  }
  const rules: BoundaryRule[] = [];
  for (const [i, raw] of r.data.accessBoundary.accessBoundaryRules.entries()) {
    const at = `accessBoundary.accessBoundaryRules[${i}]`;
    const resource = parseResource(raw.availableResource);
    if (!resource.ok)
      return fail(`${at}.availableResource ${resource.message}`);
    for (const [j, p] of raw.availablePermissions.entries()) {
      const perm = parsePermission(p);
      if (!perm.ok) {
        return fail(`${at}.availablePermissions[${j}] ${perm.message}`);
      }
    }
    const cond = raw.availabilityCondition;
    if (cond !== undefined) {
      const expr = parseExpression(cond.expression);
      if (!expr.ok) {
        return fail(`${at}.availabilityCondition.expression ${expr.message}`);
      }
    }
    rules.push({
      resource: raw.availableResource,
      permissions: raw.availablePermissions,
      ...(cond === undefined ? {} : {condition: cond}),
    });
  }
  return ok(compileBoundary(rules));
}
