/**
 * tvm as the Cloud Function: `start` reads the configuration, builds the service, puts
 * it behind the request guard that answers every request the framework's server
 * receives (src/request-guard.ts), and registers it as the HTTP function `tvm`; before
 * that, two settings that make the framework's own defaults safe should it ever serve
 * a request. The entry (src/index.ts) calls it; loading this module starts nothing.
 *
 * The build loads the bundle of this module and runs cold starts with the parts it
 * also exports, to make the bundle's code cache (scripts/build/code-cache.ts).
 */
import {http} from '@google-cloud/functions-framework';
import {parseConfig} from './config.ts';
import {guardParserErrorLogs} from './framework-guard.ts';
import {createLogger} from './log.ts';
import {installRequestGuard} from './request-guard.ts';
import {createService} from './service.ts';

export {parseConfig} from './config.ts';
export {createLogger} from './log.ts';
export {guardListener} from './request-guard.ts';
export {createService} from './service.ts';

export async function start(): Promise<void> {
  // functions-framework parses bodies before tvm sees them; a body its parser rejects
  // (broken JSON) is answered by Express's final handler, which prints a stack trace
  // unless NODE_ENV is production. The framework builds its app after loading the
  // entry, so setting the default here keeps stacks out of every answer.
  process.env.NODE_ENV ??= 'production';
  // ... and prints the rejected body, secrets and all, unless guarded (see there).
  guardParserErrorLogs();

  const config = parseConfig(process.env);
  const logger = createLogger(config.logLevel);
  const {app} = await createService(config, {logger});
  // Every request passes tvm's guard and is answered by tvm, never by the framework's
  // body parsers and path decoding (see there); installed before the framework creates
  // its server, which it does once the entry is loaded.
  installRequestGuard({
    serve: app,
    logger,
    trustedProxyHops: config.trustedProxyHops,
  });
  // The framework's CLI looks the target up by name; it would serve it should the
  // guard's seam ever be gone.
  http('tvm', app);
}
