/**
 * The Cloud Function entry: reads the configuration, builds the service, registers
 * it as the HTTP function `tvm`. Nothing else lives here.
 */
import {http} from '@google-cloud/functions-framework';
import {parseConfig} from './config.ts';
import {createService} from './service.ts';

http('tvm', createService(parseConfig(process.env)).app);
