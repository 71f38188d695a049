/**
 * How a `tvm` command finds the emulator of a running local mode: `npm start` writes
 * `.tvm-local/<port>/emulator.json` (its URLs and project) and a key of an account that
 * may administer the emulated Secret Manager, both 0600; `tvm import-user --local`
 * reads them. One module for both sides, so they agree on the format.
 */
import {constants} from 'node:fs';
import {lstat, open, writeFile} from 'node:fs/promises';
import {dirname, join} from 'node:path';
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
  /** The emulator's instance id (GET /emulator/v1/instance answers it while it runs). */
  readonly instance: string;
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
    instance: state.instanceId,
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
  const uid = process.getuid?.();
  // The folders first (another user who may write them could swap the file), then
  // the file itself, opened without following a link, checked and read through the
  // same handle: what is checked is what is read.
  for (const folder of [dirname(dir), dir]) {
    let info;
    try {
      info = await lstat(folder);
    } catch {
      return undefined;
    }
    if (!info.isDirectory()) {
      throw new UnsafeEmulatorFile(`${folder} is not a plain directory`);
    }
    ownedAndClosed(folder, info, uid);
  }
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    if ((e as {code?: string}).code === 'ELOOP') {
      throw new UnsafeEmulatorFile(`${path} is a symbolic link`);
    }
    return undefined;
  }
  let json: unknown;
  try {
    const info = await handle.stat();
    if (!info.isFile()) return undefined;
    ownedAndClosed(path, info, uid);
    const buffer = Buffer.alloc(MAX_FILE_BYTES + 1);
    const {bytesRead} = await handle.read(buffer, 0, buffer.length, 0);
    if (bytesRead > MAX_FILE_BYTES) return undefined;
    json = JSON.parse(buffer.subarray(0, bytesRead).toString('utf8'));
  } catch (e) {
    if (e instanceof UnsafeEmulatorFile) throw e;
    return undefined;
  } finally {
    await handle.close();
  }
  const f = json as Partial<Record<keyof LocalEmulator, unknown>>;
  const all = [f.url, f.secretManager, f.projectId, f.credentials, f.instance];
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

/** emulator.json is a few hundred bytes. */
const MAX_FILE_BYTES = 64 * 1024;

/** Refuses `path` unless this user owns it and no one else may write it. */
function ownedAndClosed(
  path: string,
  info: {uid: number; mode: number},
  uid: number | undefined,
): void {
  if (uid !== undefined && info.uid !== uid) {
    throw new UnsafeEmulatorFile(`${path} belongs to another user`);
  }
  if (info.mode & 0o022) {
    throw new UnsafeEmulatorFile(
      `${path} may be written by others (mode ${(info.mode & 0o777).toString(8)})`,
    );
  }
}

/**
 * True when the emulator `file` describes is the one running at its address now: a
 * file left by a local mode that stopped names ports anyone may hold since.
 */
export async function isRunning(file: LocalEmulator): Promise<boolean> {
  try {
    const res = await fetch(`${file.url}/emulator/v1/instance`, {
      signal: AbortSignal.timeout(2000),
      redirect: 'error',
    });
    const body = (await res.json()) as {instance?: unknown};
    return res.status === 200 && body.instance === file.instance;
  } catch {
    return false;
  }
}

/** An emulator.json that must not be trusted; the message says why. */
export class UnsafeEmulatorFile extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}
