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
  concurrentWriteProblems,
  dependencies,
  writes,
  type BuildConfig,
  type BuildStep,
} from './cloudbuild-checks.ts';
import {variables, loadConfiguration} from './terraform-checks.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const text = readFileSync(join(ROOT, 'cloudbuild.yaml'), 'utf8');
const config = parseBuild(text);
const deployText = readFileSync(join(ROOT, 'cloudbuild-deploy.yaml'), 'utf8');
const deploy = parseBuild(deployText);
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  main: string;
  scripts: Record<string, string>;
};

function step(id: string, of: BuildConfig = config): BuildStep {
  const s = steps(of).find(x => x.id === id);
  assert.ok(s, `a step with id ${id}`);
  return s;
}

function script(s: BuildStep): string {
  return [String(s.entrypoint ?? ''), ...((s.args as string[]) ?? [])].join(
    ' ',
  );
}

for (const [file, conf, raw] of [
  ['cloudbuild.yaml', config, text],
  ['cloudbuild-deploy.yaml', deploy, deployText],
] as const) {
  void describe(`${file}: structure`, () => {
    void test('every step has a unique id and an explicit waitFor on earlier steps', () => {
      assert.deepEqual(structureProblems(conf), []);
    });

    void test('substitutions used are declared and _-prefixed, or built in; all declared are used', () => {
      assert.deepEqual(substitutionProblems(conf), []);
    });

    void test('every npm script it runs exists in package.json', () => {
      assert.deepEqual(npmScriptProblems(conf, pkg.scripts), []);
    });

    void test('images are pinned; Terraform to an x.y.z version', () => {
      assert.deepEqual(imageProblems(conf), []);
    });

    void test('no secrets in the file', () => {
      assert.deepEqual(secretProblems(raw, conf), []);
    });

    void test('no two steps that may run at once write the same folder', () => {
      assert.deepEqual(concurrentWriteProblems(conf), []);
    });
  });
}

void describe('cloudbuild.yaml: the build pipeline (no deploy rights)', () => {
  void test('it has the steps of the build', () => {
    assert.deepEqual(
      steps(config).map(s => s.id),
      [
        'npm-ci',
        'lint',
        'typecheck',
        'test',
        'policy-check',
        'tf-fmt',
        'package',
        'publish',
      ],
    );
  });

  void test('it installs without running dependency scripts, on Node 24 images', () => {
    assert.match(script(step('npm-ci')), /npm ci --ignore-scripts/);
    for (const s of steps(config).filter(x => /npm|node/.test(script(x)))) {
      assert.match(String(s.name), /^node:24-/, String(s.id));
    }
  });

  void test('nothing is packaged or published before lint, typecheck, test, the policy check and terraform fmt pass', () => {
    for (const id of ['package', 'publish']) {
      const deps = dependencies(config, id);
      for (const gate of [
        'npm-ci',
        'lint',
        'typecheck',
        'test',
        'policy-check',
        'tf-fmt',
      ]) {
        assert.ok(deps.has(gate), `${id} waits for ${gate}`);
      }
    }
    assert.match(
      script(step('policy-check')),
      /bin\/tvm\.js policy check \$\{_POLICY_FILE\}/,
    );
    assert.match(script(step('tf-fmt')), /fmt -check -recursive terraform/);
  });

  void test('the zip is made by scripts/package-function.py, the script the buildpack test runs', () => {
    assert.match(
      script(step('package')),
      /scripts\/package-function\.py function-source\.zip/,
    );
    assert.deepEqual(writes(step('package')), ['function-source.zip']);
    assert.ok(
      pkg.main.startsWith('build/'),
      'package.json main is inside build/, which gcp-build makes',
    );
  });

  void test('it publishes only when told to, without overwriting, and runs no Terraform', () => {
    const publish = script(step('publish'));
    assert.match(publish, /if \[ "\$\{_PUBLISH\}" != "true" \]/);
    assert.match(publish, /--no-clobber/);
    assert.equal(
      (config.substitutions as Record<string, string>)._PUBLISH,
      'false',
      'a trigger must opt in',
    );
    for (const s of steps(config)) {
      assert.doesNotMatch(script(s), /\b(plan|apply)\b/, String(s.id));
    }
  });
});

void describe('cloudbuild-deploy.yaml: the deploy pipeline (the deployer account)', () => {
  void test('it has only the fetch and the Terraform steps: no npm, no repository code', () => {
    assert.deepEqual(
      steps(deploy).map(s => s.id),
      ['fetch', 'tf-fmt', 'tf-init', 'tf-validate', 'tf-plan', 'tf-apply'],
    );
    for (const s of steps(deploy)) {
      assert.doesNotMatch(script(s), /\bnpm\b|\bnode\b|\.py\b/, String(s.id));
      assert.match(
        String(s.name),
        /^(hashicorp\/terraform|gcr\.io\/google\.com\/cloudsdktool\/cloud-sdk):/,
      );
    }
  });

  void test('fmt -check and validate pass before the plan; apply applies the saved plan', () => {
    const deps = dependencies(deploy, 'tf-plan');
    for (const gate of ['tf-fmt', 'tf-validate', 'fetch', 'tf-init']) {
      assert.ok(deps.has(gate), `tf-plan waits for ${gate}`);
    }
    assert.match(
      script(step('tf-fmt', deploy)),
      /fmt -check -recursive terraform/,
    );
    assert.match(script(step('tf-validate', deploy)), /validate/);
    assert.match(
      script(step('tf-apply', deploy)),
      /terraform apply -input=false tfplan/,
    );
    const tf = steps(deploy).filter(s => String(s.name).includes('terraform'));
    assert.equal(new Set(tf.map(s => s.name)).size, 1, 'one Terraform version');
    assert.equal(
      step('tf-fmt', deploy).name,
      step('tf-fmt').name,
      'the same as the build pipeline',
    );
  });

  void test('it deploys the zip and policy the build pipeline published for this commit', () => {
    const fetch = script(step('fetch', deploy));
    assert.match(
      fetch,
      /gs:\/\/\$\{_ARTIFACTS_BUCKET\}\/tvm\/\$\{COMMIT_SHA\}/,
    );
    const publish = script(step('publish'));
    assert.match(
      publish,
      /gs:\/\/\$\{_ARTIFACTS_BUCKET\}\/tvm\/\$\{COMMIT_SHA\}/,
    );
    const plan = (step('tf-plan', deploy).args as string[]).join(' ');
    assert.match(
      plan,
      /-var=source_zip_path=\/workspace\/artifacts\/function-source\.zip/,
    );
    assert.match(plan, /-var=policy_file=\/workspace\/artifacts\/policy\.yaml/);
    assert.match(publish, /"\$\$dst\/policy\.yaml"/);
    assert.match(plan, /-out=tfplan/);
    const init = (step('tf-init', deploy).args as string[]).join(' ');
    assert.match(init, /-backend-config=bucket=\$\{_TF_STATE_BUCKET\}/);
  });

  void test('the variables it passes with -var are variables of the root it deploys', async () => {
    const dir = (deploy.substitutions as Record<string, string>)._TF_DIR;
    assert.equal(step('tf-plan', deploy).dir, '${_TF_DIR}');
    assert.ok(dir);
    const root = await loadConfiguration(join(ROOT, dir));
    const vars = variables(root);
    const passed = (step('tf-plan', deploy).args as string[])
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

  void test('parallel steps writing the same folder', () => {
    const racy = parseBuild(`
steps:
  - id: a
    name: node:22
    entrypoint: bash
    args: [scripts/node24.sh, npm, ci]
    waitFor: ['-']
  - id: b
    name: node:22
    entrypoint: bash
    args: [scripts/node24.sh, npm, ci]
    waitFor: ['-']
  - id: c
    name: node:22
    entrypoint: bash
    args: [scripts/node24.sh, npm, test]
    waitFor: [a, b]
`);
    assert.deepEqual(concurrentWriteProblems(racy), [
      'a and b may run at once and both write node_modules',
      'a and b may run at once and both write .tools',
    ]);
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
