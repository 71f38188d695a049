/**
 * The Cloud Function entry: reads the configuration, builds the service, registers
 * it as the HTTP function `tvm`; before that, two settings that make the framework's
 * own defaults safe for a security service.
 */
import {http} from '@google-cloud/functions-framework';
import {parseConfig} from './config.ts';
import {guardParserErrorLogs} from './framework-guard.ts';
import {createLogger} from './log.ts';
import {installRequestGuard} from './request-guard.ts';
import {createService} from './service.ts';

// functions-framework parses bodies before tvm sees them; a body its parser rejects
// (broken JSON) is answered by Express's final handler, which prints a stack trace
// unless NODE_ENV is production. The framework builds its app after loading this
// module, so setting the default here keeps stacks out of every answer.
process.env.NODE_ENV ??= 'production';
// ... and prints the rejected body, secrets and all, unless guarded (see there).
guardParserErrorLogs();

const config = parseConfig(process.env);
const logger = createLogger(config.logLevel);
// Every request passes tvm's guard before the framework's body parsers and path
// decoding (see there); installed before the framework creates its server.
installRequestGuard({logger, trustedProxyHops: config.trustedProxyHops});

http('tvm', (await createService(config, {logger})).app);
