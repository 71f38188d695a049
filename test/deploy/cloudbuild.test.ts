import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import {join, resolve} from 'node:path';
import {
  imageProblems,
  npmScriptProblems,
  parseBuild,
  secretProblems,
  steps,
  structureProblems,
  substitutionProblems,
  substitutionsUsed,
  type BuildStep,
} from './cloudbuild-checks.ts';
import {variables, loadConfiguration} from './terraform-checks.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const text = readFileSync(join(ROOT, 'cloudbuild.yaml'), 'utf8');
const config = parseBuild(text);
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  main: string;
  scripts: Record<string, string>;
};

function step(id: string): BuildStep {
  const s = steps(config).find(x => x.id === id);
  assert.ok(s, `a step with id ${id}`);
  return s;
}

/** Every step id that `id` waits for, directly or not. */
function dependencies(id: string): Set<string> {
  const out = new Set<string>();
  const visit = (x: string): void => {
    for (const w of (step(x).waitFor as string[]) ?? []) {
      if (w !== '-' && !out.has(w)) {
        out.add(w);
        visit(w);
      }
    }
  };
  visit(id);
  return out;
}

void describe('cloudbuild.yaml: structure', () => {
  void test('every step has a unique id and an explicit waitFor on earlier steps', () => {
    assert.deepEqual(structureProblems(config), []);
  });

  void test('substitutions used are declared and _-prefixed, or built in; all declared are used', () => {
    assert.deepEqual(substitutionProblems(config), []);
  });

  void test('every npm script it runs exists in package.json', () => {
    assert.deepEqual(npmScriptProblems(config, pkg.scripts), []);
  });

  void test('images are pinned; Terraform to an x.y.z version', () => {
    assert.deepEqual(imageProblems(config), []);
  });

  void test('no secrets in the file', () => {
    assert.deepEqual(secretProblems(text, config), []);
  });
});

void describe('cloudbuild.yaml: the pipeline', () => {
  void test('it has the steps of the issue', () => {
    assert.deepEqual(
      steps(config).map(s => s.id),
      [
        'npm-ci',
        'lint',
        'typecheck',
        'test',
        'build',
        'package',
        'tf-init',
        'tf-plan',
        'tf-apply',
      ],
    );
  });

  void test('nothing is packaged or deployed before lint, typecheck, test and build pass', () => {
    for (const id of ['package', 'tf-plan', 'tf-apply']) {
      const deps = dependencies(id);
      for (const gate of ['npm-ci', 'lint', 'typecheck', 'test', 'build']) {
        assert.ok(deps.has(gate), `${id} waits for ${gate}`);
      }
    }
    assert.ok(
      dependencies('tf-apply').has('tf-plan'),
      'apply applies the saved plan',
    );
  });

  void test('the package step zips package.json, its lock and the build/ that "main" names', () => {
    const script = (step('package').args as string[]).join('\n');
    assert.match(script, /'package\.json'/);
    assert.match(script, /'package-lock\.json'/);
    assert.match(script, /os\.walk\('build'\)/);
    assert.ok(
      pkg.main.startsWith('build/'),
      'package.json main is inside build/',
    );
    assert.match(script, /function-source\.zip/);
  });

  void test('Terraform keeps state in the bucket substitution and deploys the packaged zip', () => {
    const init = (step('tf-init').args as string[]).join(' ');
    assert.match(init, /-backend-config=bucket=\$\{_TF_STATE_BUCKET\}/);
    const plan = (step('tf-plan').args as string[]).join(' ');
    assert.match(plan, /-out=tfplan/);
    assert.match(
      plan,
      /-var=source_zip_path=\/workspace\/function-source\.zip/,
    );
    assert.match(
      String((step('tf-apply').args as string[])[1]),
      /terraform apply -input=false tfplan/,
    );
    for (const id of ['tf-init', 'tf-plan', 'tf-apply']) {
      assert.equal(
        step(id).name,
        step('tf-init').name,
        'one Terraform version throughout',
      );
    }
  });

  void test('the variables it passes with -var are variables of the root it deploys', async () => {
    const dir = (config.substitutions as Record<string, string>)._TF_DIR;
    assert.equal(step('tf-plan').dir, '${_TF_DIR}');
    assert.ok(dir);
    const root = await loadConfiguration(join(ROOT, dir));
    const vars = variables(root);
    const passed = (step('tf-plan').args as string[])
      .filter(a => a.startsWith('-var='))
      .map(a => a.slice('-var='.length).split('=')[0]!);
    assert.ok(passed.length > 0);
    assert.deepEqual(
      passed.filter(v => !vars.has(v)),
      [],
    );
  });
});

void describe('cloudbuild checks catch a bad pipeline', () => {
  const bad = parseBuild(`
steps:
  - id: install
    name: node:latest
    entrypoint: npm
    args: [ci]
  - id: install
    name: hashicorp/terraform:1.12
    args:
      - plan
      - -var=region=\${_REGION}
      - -var=zone=$_ZONE
      - -var=x=$HOME
      - -var=y=$$HOME
    waitFor: [deploy]
  - id: deploy
    name: node:24
    entrypoint: bash
    args: [-c, 'npm run deploy && npm test && API_TOKEN=abc123 ./go']
    waitFor: ['-']
substitutions:
  _REGION: europe-west1
  unused: x
  _NEVER: y
`);

  void test('structure', () => {
    assert.deepEqual(structureProblems(bad), [
      'steps[0] (install): no explicit waitFor',
      'steps[1] (install): duplicate id "install"',
      'steps[1] (install): waitFor "deploy" is not an earlier step',
    ]);
  });

  void test('substitutions', () => {
    assert.deepEqual(substitutionProblems(bad).sort(), [
      '$HOME is neither built in nor declared (a shell variable must be written $$HOME)',
      '$_ZONE is used but not declared in substitutions',
      'substitution _NEVER is declared but never used',
      'substitution unused is declared but never used',
      'substitution unused: user-defined substitutions are _UPPER_CASE',
    ]);
  });

  void test('npm scripts', () => {
    assert.deepEqual(
      npmScriptProblems(bad, {test: 'node --test', build: 'tsc'}),
      ['deploy: npm script "deploy" is not in package.json'],
    );
  });

  void test('images', () => {
    assert.deepEqual(imageProblems(bad), [
      'install: image node:latest uses :latest',
      'install: Terraform image hashicorp/terraform:1.12 must pin an x.y.z version',
    ]);
  });

  void test('secrets', () => {
    const leaky = `
steps:
  - id: a
    name: node:24
    env: ['TVM_API_KEY=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef']
    args: ['-c', 'curl -H "Authorization: Bearer ya29.a0AfH6SMBexample"']
    secretEnv: [KEY]
    waitFor: ['-']
availableSecrets:
  inline:
    - kmsKeyName: k
      envMap: {KEY: Q2lRQU}
options:
  password: hunter2
`;
    const problems = secretProblems(leaky, parseBuild(leaky));
    for (const want of [
      /a Google OAuth access token/,
      /a long hex string/,
      /availableSecrets\.inline/,
      /secretEnv is not used/,
      /\.options\.password: a secret-sounding key/,
      /TVM_API_KEY is set to a literal value/,
    ]) {
      assert.ok(
        problems.some(p => want.test(p)),
        `${want} in ${JSON.stringify(problems)}`,
      );
    }
  });

  void test('$$ escapes a shell variable; $ and ${} are substitutions', () => {
    assert.deepEqual(substitutionsUsed('a $_A ${_B} $$C $$$D ${PROJECT_ID}'), [
      '_A',
      '_B',
      'D',
      'PROJECT_ID',
    ]);
  });
});
