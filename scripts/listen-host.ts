/**
 * Preloaded (`node --import`) by scripts/start.ts into the functions-framework process
 * of local mode. The framework listens with `server.listen(port)` (the port a string
 * from its command line), on every interface
 * (node_modules/@google-cloud/functions-framework/build/src/main.js), and has no option
 * for the host; a local tvm with a demo key has no business on the network. Listens
 * that name only a port get TVM_LOCAL_HOST (set by scripts/start.ts, 127.0.0.1 unless
 * the user chose otherwise).
 */
import net from 'node:net';

const host = process.env.TVM_LOCAL_HOST;
if (host) {
  const listen = net.Server.prototype.listen;
  net.Server.prototype.listen = function (
    this: net.Server,
    ...args: unknown[]
  ) {
    const port = args[0];
    const isPort =
      typeof port === 'number' ||
      (typeof port === 'string' && /^\d+$/.test(port));
    if (isPort && typeof args[1] !== 'string') {
      args.splice(1, 0, host);
    }
    return (listen as (...a: unknown[]) => net.Server).apply(this, args);
  } as typeof listen;
}
