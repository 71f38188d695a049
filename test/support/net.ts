/**
 * Loopback helpers for tests that start servers of their own: a free port, and waiting
 * for a server's health check.
 */
import {createServer, type AddressInfo} from 'node:net';

/** A loopback port free at the moment of asking (the system's choice). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>(r => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  await new Promise(r => srv.close(r));
  return port;
}

/**
 * Resolves once `url` answers 200, asking every 50 ms up to `tries` times; gives up
 * early when `dead()` says the server is gone. The error names the URL and, when
 * given, `detail()` (the server's output so far).
 */
export async function waitHealthy(
  url: string,
  options: {
    readonly tries?: number;
    readonly dead?: () => boolean;
    readonly detail?: () => string;
  } = {},
): Promise<void> {
  const tries = options.tries ?? 400;
  for (let i = 0; i < tries && !options.dead?.(); i++) {
    try {
      if ((await fetch(url)).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise(r => setTimeout(r, 50));
  }
  const detail = options.detail?.();
  throw new Error(`not healthy: ${url}${detail ? `\n${detail}` : ''}`);
}
