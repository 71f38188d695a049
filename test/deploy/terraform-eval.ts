/**
 * Evaluates the module's provider-free files (variables.tf with its validations, and
 * the locals-only names.tf and targets.tf) with the real Terraform binary: no provider
 * is needed, so nothing is downloaded. Each evaluation is a `terraform apply` of those
 * files in a temporary folder with the given variable values and one output holding
 * the locals asked for; it reports the outputs, or the error diagnostics.
 */
import {spawn} from 'node:child_process';
import {copyFileSync, mkdtempSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join, resolve} from 'node:path';

export const MODULE_DIR = resolve(
  import.meta.dirname,
  '../../terraform/modules/tvm',
);
/** The module files that declare no resource, data source or provider. */
export const PROVIDER_FREE_FILES = ['variables.tf', 'names.tf', 'targets.tf'];

export interface Evaluation {
  readonly ok: boolean;
  /** The requested locals, by name, when ok. */
  readonly values: Record<string, unknown>;
  /** Error diagnostics: "summary: detail". */
  readonly errors: string[];
}

/** Whether a terraform binary is on PATH. */
export async function terraformVersion(): Promise<string | undefined> {
  const r = await run(['version', '-json'], tmpdir());
  if (r.code !== 0) return undefined;
  return (JSON.parse(r.stdout) as {terraform_version: string})
    .terraform_version;
}

function run(
  args: string[],
  cwd: string,
): Promise<{code: number | null; stdout: string; stderr: string}> {
  return new Promise(done => {
    const child = spawn('terraform', args, {
      cwd,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: cwd,
        // No version check against the network, no interactive prompts.
        CHECKPOINT_DISABLE: '1',
        TF_IN_AUTOMATION: '1',
        TF_CLI_CONFIG_FILE: '/dev/null',
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += String(d)));
    child.stderr.on('data', (d: Buffer) => (stderr += String(d)));
    child.on('error', () => done({code: -1, stdout, stderr}));
    child.on('close', code => done({code, stdout, stderr}));
  });
}

/** Applies the provider-free files with `vars`, returning the `locals` asked for. */
export async function evaluate(
  vars: Record<string, unknown>,
  localNames: readonly string[],
  extraFiles: Readonly<Record<string, string>> = {},
): Promise<Evaluation> {
  const dir = mkdtempSync(join(tmpdir(), 'tvm-tfeval-'));
  for (const f of PROVIDER_FREE_FILES) {
    copyFileSync(join(MODULE_DIR, f), join(dir, f));
  }
  const fields = localNames.map(n => `    ${n} = local.${n}`).join('\n');
  writeFileSync(
    join(dir, 'zz_eval_outputs.tf'),
    `output "locals" {\n  value = {\n${fields}\n  }\n}\n`,
  );
  for (const [name, text] of Object.entries(extraFiles)) {
    writeFileSync(join(dir, name), text);
  }
  writeFileSync(join(dir, 'terraform.tfvars.json'), JSON.stringify(vars));
  const r = await run(
    ['apply', '-auto-approve', '-input=false', '-lock=false', '-json'],
    dir,
  );
  const errors: string[] = [];
  let values: Record<string, unknown> = {};
  for (const line of r.stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const m = JSON.parse(line) as {
      type: string;
      diagnostic?: {severity: string; summary: string; detail: string};
      outputs?: {locals?: {value: Record<string, unknown>}};
    };
    if (m.type === 'diagnostic' && m.diagnostic?.severity === 'error') {
      errors.push(`${m.diagnostic.summary}: ${m.diagnostic.detail}`);
    }
    if (m.type === 'outputs' && m.outputs?.locals) {
      values = m.outputs.locals.value;
    }
  }
  if (r.code !== 0 && errors.length === 0) {
    errors.push(`terraform exited ${r.code}: ${r.stderr.slice(-500)}`);
  }
  return {ok: r.code === 0 && errors.length === 0, values, errors};
}
