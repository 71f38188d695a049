/**
 * How a `tvm` command finds the emulator of a running local mode: `npm start` writes
 * `.tvm-local/<port>/emulator.json` (its URLs and project) and a key of an account that
 * may administer the emulated Secret Manager, both 0600; `tvm import-user --local`
 * reads them. One module for both sides, so they agree on the format.
 */
import {readFile, stat, writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import type {Emulator} from '../../emulator/src/index.ts';
import {isLoopbackAddress} from '../loopback.ts';

/** The account that may administer the emulated Secret Manager in local mode. */
export const LOCAL_ADMIN_ACCOUNT =
  'tvm-local-admin@tvm-local.iam.gserviceaccount.com';

/** What a command needs of a local mode's emulator. */
export interface LocalEmulator {
  /** The emulator's HTTP origin. */
  readonly url: string;
  /** Its Secret Manager (plaintext gRPC) endpoint. */
  readonly secretManager: string;
  /** Its default project. */
  readonly projectId: string;
  /** A service-account key file of LOCAL_ADMIN_ACCOUNT. */
  readonly credentials: string;
}

/** `.tvm-local/<port>` under `root`: where local mode on `port` keeps its files. */
export function localStateDir(root: string, port: number): string {
  return join(root, '.tvm-local', String(port));
}

/** Makes the admin account, writes its key and emulator.json into `dir`. */
export async function writeEmulatorFile(
  dir: string,
  emulator: Pick<Emulator, 'url' | 'secretManagerEndpoint' | 'state'>,
): Promise<void> {
  const state = emulator.state;
  try {
    state.createServiceAccount({email: LOCAL_ADMIN_ACCOUNT});
  } catch {
    // Exists already.
  }
  state.grantSecretAdmin(`serviceAccount:${LOCAL_ADMIN_ACCOUNT}`);
  const credentials = join(dir, 'admin-key.json');
  await writeFile(
    credentials,
    JSON.stringify(state.createKey(LOCAL_ADMIN_ACCOUNT), null, 2),
    {mode: 0o600},
  );
  const file: LocalEmulator = {
    url: emulator.url,
    secretManager: emulator.secretManagerEndpoint,
    projectId: state.projectId,
    credentials,
  };
  await writeFile(join(dir, 'emulator.json'), JSON.stringify(file, null, 2), {
    mode: 0o600,
  });
}

/**
 * Reads `dir`/emulator.json; undefined when there is none or it is not one. A file
 * that points anywhere but this machine, or that another user owns or may write, is
 * refused with the reason (thrown): a command that trusts it sends a user's
 * credential there.
 */
export async function readEmulatorFile(
  dir: string,
): Promise<LocalEmulator | undefined> {
  const path = join(dir, 'emulator.json');
  let json: unknown;
  try {
    const info = await stat(path);
    if (info.size > 64 * 1024) return undefined;
    json = JSON.parse(await readFile(path, 'utf8'));
    const uid = process.getuid?.();
    if (uid !== undefined && info.uid !== uid) {
      throw new UnsafeEmulatorFile(`${path} belongs to another user`);
    }
    if (info.mode & 0o022) {
      throw new UnsafeEmulatorFile(
        `${path} may be written by others (mode ${(info.mode & 0o777).toString(8)})`,
      );
    }
  } catch (e) {
    if (e instanceof UnsafeEmulatorFile) throw e;
    return undefined;
  }
  const f = json as Partial<Record<keyof LocalEmulator, unknown>>;
  const all = [f.url, f.secretManager, f.projectId, f.credentials];
  if (!all.every(v => typeof v === 'string' && v !== '')) return undefined;
  for (const address of [f.url, f.secretManager] as string[]) {
    if (!isLoopbackAddress(address)) {
      throw new UnsafeEmulatorFile(
        `${path} names an emulator that is not on this machine`,
      );
    }
  }
  return f as LocalEmulator;
}

/** An emulator.json that must not be trusted; the message says why. */
export class UnsafeEmulatorFile extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}
