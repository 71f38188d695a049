/** The words of token-exchange decisions (src/policy/explain.ts), as tables. */

import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {compileGlob} from '../../src/policy/pattern.ts';
import {describeCondition, describeMismatch} from '../../src/policy/explain.ts';
import type {ClaimCondition} from '../../src/policy/types.ts';

const equals = (claim: string, value: string): ClaimCondition => ({
  claim,
  kind: 'equals',
  value,
});
const pattern = (claim: string, value: string): ClaimCondition => {
  const g = compileGlob(value);
  assert.ok(g.ok, value);
  return {claim, kind: 'pattern', value, glob: g.value};
};

void describe('describeCondition', () => {
  const cases: Array<[string, ClaimCondition, string]> = [
    ['equals', equals('sub', 'repo:org/app'), 'sub equals "repo:org/app"'],
    ['pattern', pattern('sub', 'repo:org/*'), 'sub pattern "repo:org/*"'],
    [
      'a value with quotes and a newline, escaped',
      equals('team', 'a"b\nc'),
      'team equals "a\\"b\\nc"',
    ],
    [
      'a long value, bounded',
      equals('sub', 'x'.repeat(100)),
      `sub equals "${'x'.repeat(77)}..."`,
    ],
  ];
  for (const [name, c, want] of cases) {
    void test(name, () => assert.equal(describeCondition(c), want));
  }
});

void describe('describeMismatch', () => {
  const sub = pattern('sub', 'repo:org/*');
  const owner = equals('repository_owner', 'org');
  const cases: Array<
    [
      string,
      boolean,
      Array<{condition: ClaimCondition; actual: unknown}>,
      string,
    ]
  > = [
    ['nothing failed', true, [], 'no failed condition'],
    ['the audience only', false, [], 'aud "https://x.example" is not accepted'],
    [
      'a pattern not matched',
      true,
      [{condition: sub, actual: 'repo:other/app'}],
      'claim sub "repo:other/app" does not match (condition: sub pattern "repo:org/*")',
    ],
    [
      'an absent claim',
      true,
      [{condition: owner, actual: undefined}],
      'claim repository_owner is missing (condition: repository_owner equals "org")',
    ],
    [
      'audience first, then each condition in order',
      false,
      [
        {condition: sub, actual: 7},
        {condition: owner, actual: 'other'},
      ],
      'aud "https://x.example" is not accepted, claim sub "7" does not match (condition: sub pattern "repo:org/*"), claim repository_owner "other" does not equal (condition: repository_owner equals "org")',
    ],
  ];
  for (const [name, accepted, unmet, want] of cases) {
    void test(name, () =>
      assert.equal(
        describeMismatch('https://x.example', accepted, unmet),
        want,
      ),
    );
  }
});
