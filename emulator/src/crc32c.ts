/**
 * The emulator computes `data_crc32c` with the same CRC-32C that tvm uses to check it:
 * one implementation, tested once against the standard check values.
 */
export {crc32c} from '../../src/google/crc32c.ts';
