/**
 * JWT refusals are part of tvm's one error model (src/errors.ts); re-exported here for
 * the verification modules of this folder.
 */
export {JwtRejected, KeysUnavailable} from '../errors.ts';
