/**
 * `tvm keygen`: a new API key, shown once, and the policy line that accepts it.
 */

import {parseArgs} from 'node:util';
import {apiKeySha256Hex, generateApiKey} from '../auth/api-key.ts';
import {CLIENT_ID_PATTERN, parseExpiry} from '../policy/index.ts';
import {EXIT_OK, EXIT_USAGE, println, type CliIo, type Command} from './io.ts';

export const keygen: Command = {
  name: 'keygen',
  args: '[--client ID] [--expires DATE]',
  summary:
    'make a new API key; print it once and the sha256 line for the policy',
  run: runKeygen,
};

async function runKeygen(args: string[], io: CliIo): Promise<number> {
  const {values} = parseArgs({
    args,
    options: {client: {type: 'string'}, expires: {type: 'string'}},
    strict: true,
    allowPositionals: false,
  });
  const client = values.client;
  if (client !== undefined && !CLIENT_ID_PATTERN.test(client)) {
    println(
      io.stderr,
      'tvm keygen: --client must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}',
    );
    return EXIT_USAGE;
  }
  const expires = values.expires;
  if (expires !== undefined) {
    const at = parseExpiry(expires);
    if (!at.ok) {
      println(io.stderr, `tvm keygen: --expires: ${at.message}`);
      return EXIT_USAGE;
    }
    if (at.value <= (io.now ?? Date.now)()) {
      println(io.stderr, `tvm keygen: --expires ${expires} is already past`);
      return EXIT_USAGE;
    }
  }
  const key = generateApiKey();
  const out = io.stdout;
  println(
    out,
    'New API key. It is shown only this once and tvm does not keep it:',
  );
  println(
    out,
    'store it now in your secret store, then give it to the client.',
  );
  println(out);
  println(out, key);
  println(out);
  println(out, 'Add this to the policy (only the hash goes there):');
  println(out);
  for (const line of snippet(apiKeySha256Hex(key), client, expires)) {
    println(out, line);
  }
  return EXIT_OK;
}

/** The YAML to paste: a list item, nested under its client when one was named. */
function snippet(
  sha256: string,
  client: string | undefined,
  expires: string | undefined,
): string[] {
  const item = [`- sha256: ${sha256}`];
  if (expires !== undefined) item.push(`  expires: ${expires}`);
  if (client === undefined) return item;
  return [
    'clients:',
    `  ${client}:`,
    '    api_keys:',
    ...item.map(l => `      ${l}`),
  ];
}
