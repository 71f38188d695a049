/**
 * The token cache of `tvm token` and `tvm exec`: one file per (profile, request) under
 * XDG_CACHE_HOME/tvm (mode 0700; files 0600, written atomically by rename). A token is
 * handed out from the cache while more than five minutes of it remain, and refreshed
 * before that, never at expiry — the threshold Google's Node client library uses
 * (eagerRefreshThresholdMillis), so a command that starts with the token has time to
 * use it.
 *
 * Many processes at once (cron jobs starting on the same minute) make one request: the
 * one that creates the lock file (O_CREAT|O_EXCL) asks tvm, the others wait for the
 * entry it writes. A lock whose holder died (its pid is gone on this host) or that is
 * older than any request can take is broken, so a crash never wedges the cache.
 */

import {createHash, randomBytes} from 'node:crypto';
import {
  link,
  lstat,
  mkdir,
  open,
  readFile,
  rename,
  rm,
  stat,
} from 'node:fs/promises';
import {hostname} from 'node:os';
import {join} from 'node:path';
import {setTimeout as sleep} from 'node:timers/promises';
import {CliError, fsReason} from './errors.ts';
import {writeAtomic, type Profile} from './profiles.ts';
import type {Token, TokenRequest} from './vend.ts';

/** Refresh when less than this remains (see the file comment). */
export const REFRESH_AHEAD_MS = 5 * 60_000;
/** A lock older than this is stale whatever its pid: a request's deadline is 30 s. */
const LOCK_STALE_MS = 60_000;
/** How long a waiter waits for the holder before giving up. */
const WAIT_MS = 90_000;

export interface CacheOptions {
  readonly dir: string;
  readonly now: () => number;
  /** Asks tvm; called at most once per call of getToken. */
  readonly fetchToken: () => Promise<Token>;
}

export interface CachedToken extends Token {
  readonly fromCache: boolean;
}

/** The cache file's name: the profile's name and a hash of everything that shapes the token. */
export function entryName(profile: Profile, request: TokenRequest): string {
  const identity = JSON.stringify([
    profile.name,
    profile.url,
    profile.issuer,
    profile.clientId ?? null,
    profile.credential,
    profile.oidcTokenType,
    request.audience,
    [...request.scopes].sort(),
    request.lifetime ?? null,
    // Delegated and downscoped tokens are other tokens too (absent: the same
    // entry names as before they existed).
    ...(request.subject !== undefined ? ['subject', request.subject] : []),
    ...(request.accessBoundary !== undefined
      ? ['access_boundary', request.accessBoundary]
      : []),
    // An ID token is another token than the account's access token.
    ...(request.idToken
      ? ['id_token', request.idToken.audience, request.idToken.includeEmail]
      : []),
  ]);
  const hash = createHash('sha256').update(identity).digest('hex');
  return `${profile.name}.${hash.slice(0, 24)}.json`;
}

/** A usable token: from the cache while fresh, else from tvm (one request for all waiters). */
export async function getToken(
  profile: Profile,
  request: TokenRequest,
  options: CacheOptions,
): Promise<CachedToken> {
  const {dir, now} = options;
  await ensureDir(dir);
  const file = join(dir, entryName(profile, request));
  const lock = `${file}.lock`;
  const giveUpAt = Date.now() + WAIT_MS;
  for (;;) {
    const hit = await readEntry(file);
    if (hit && hit.expiresAt - now() > REFRESH_AHEAD_MS) {
      return {...hit, fromCache: true};
    }
    const nonce = await tryLock(lock);
    if (nonce !== undefined) {
      try {
        // Another process may have written the entry between our read and our lock.
        const again = await readEntry(file);
        if (again && again.expiresAt - now() > REFRESH_AHEAD_MS) {
          return {...again, fromCache: true};
        }
        const token = await options.fetchToken();
        await writeEntry(file, token);
        return {...token, fromCache: false};
      } finally {
        await unlock(lock, nonce);
      }
    }
    if (await breakIfStale(lock)) continue;
    if (Date.now() > giveUpAt) {
      throw new CliError(
        'ERR_CACHE',
        `waited ${WAIT_MS / 1000}s for another tvm process holding ${lock}; remove that file if no tvm is running`,
      );
    }
    await sleep(20 + Math.floor(Math.random() * 30));
  }
}

async function ensureDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, {recursive: true, mode: 0o700});
    const st = await lstat(dir);
    if (!st.isDirectory()) throw Object.assign(new Error(), {code: 'ENOTDIR'});
    if (typeof process.getuid === 'function' && st.uid !== process.getuid()) {
      throw new CliError(
        'ERR_CACHE',
        `the token cache ${dir} belongs to another user; set XDG_CACHE_HOME to a directory of yours`,
      );
    }
    if ((st.mode & 0o077) !== 0) {
      throw new CliError(
        'ERR_CACHE',
        `the token cache ${dir} is open to others (mode ${(st.mode & 0o777).toString(8)}): run "chmod 700 ${dir}"`,
      );
    }
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(
      'ERR_CACHE',
      `cannot use the token cache ${dir}: ${fsReason(e)} (XDG_CACHE_HOME moves it)`,
    );
  }
}

interface Entry {
  version: 1;
  access_token: string;
  token_type: string;
  scope?: string;
  expires_at: number;
}

/** The cached token, or undefined when absent, unreadable, malformed or not 0600. */
async function readEntry(file: string): Promise<Token | undefined> {
  let text: string;
  try {
    const h = await open(file, 'r');
    try {
      const st = await h.stat();
      if (!st.isFile() || (st.mode & 0o077) !== 0) return undefined;
      text = await h.readFile('utf8');
    } finally {
      await h.close();
    }
  } catch {
    return undefined;
  }
  try {
    const e = JSON.parse(text) as Partial<Entry>;
    if (
      e.version !== 1 ||
      typeof e.access_token !== 'string' ||
      typeof e.expires_at !== 'number' ||
      typeof e.token_type !== 'string'
    ) {
      return undefined;
    }
    return {
      accessToken: e.access_token,
      tokenType: e.token_type,
      scope: typeof e.scope === 'string' ? e.scope : undefined,
      expiresAt: e.expires_at,
    };
  } catch {
    return undefined;
  }
}

async function writeEntry(file: string, token: Token): Promise<void> {
  const entry: Entry = {
    version: 1,
    access_token: token.accessToken,
    token_type: token.tokenType,
    ...(token.scope !== undefined ? {scope: token.scope} : {}),
    expires_at: token.expiresAt,
  };
  try {
    await writeAtomic(file, `${JSON.stringify(entry)}\n`);
  } catch (e) {
    throw new CliError(
      'ERR_CACHE',
      `cannot write the token cache ${file}: ${fsReason(e)}`,
    );
  }
}

/** Creates the lock file exclusively; its nonce when this process holds it. */
async function tryLock(lock: string): Promise<string | undefined> {
  const nonce = randomBytes(8).toString('hex');
  try {
    const h = await open(lock, 'wx', 0o600);
    try {
      await h.writeFile(`${process.pid} ${hostname()} ${nonce}\n`);
    } finally {
      await h.close();
    }
    return nonce;
  } catch (e) {
    if ((e as {code?: unknown}).code === 'EEXIST') return undefined;
    throw new CliError(
      'ERR_CACHE',
      `cannot create the lock ${lock}: ${fsReason(e)}`,
    );
  }
}

async function unlock(lock: string, nonce: string): Promise<void> {
  try {
    if ((await readFile(lock, 'utf8')).includes(nonce)) await rm(lock);
  } catch {
    // already gone (broken as stale by another process)
  }
}

/**
 * Breaks `lock` when its holder is gone; true when it was broken (or vanished). The
 * lock is renamed away first (atomic), then its content compared with what was judged
 * stale: a live lock taken by mistake is linked back, never deleted.
 */
async function breakIfStale(lock: string): Promise<boolean> {
  let content: string;
  let mtimeMs: number;
  try {
    content = await readFile(lock, 'utf8');
    mtimeMs = (await stat(lock)).mtimeMs;
  } catch {
    return true; // released meanwhile: try again at once
  }
  if (!isStale(content, mtimeMs)) return false;
  const aside = `${lock}.${randomBytes(6).toString('hex')}.stale`;
  try {
    await rename(lock, aside);
  } catch {
    return true;
  }
  try {
    if ((await readFile(aside, 'utf8')) !== content) {
      await link(aside, lock).catch(() => undefined);
    }
  } finally {
    await rm(aside, {force: true});
  }
  return true;
}

function isStale(content: string, mtimeMs: number): boolean {
  if (Date.now() - mtimeMs > LOCK_STALE_MS) return true;
  const [pid, host] = content.trim().split(' ');
  if (host !== hostname() || !pid || !/^\d+$/.test(pid)) return false;
  try {
    process.kill(Number(pid), 0);
    return false;
  } catch (e) {
    return (e as {code?: unknown}).code === 'ESRCH';
  }
}
