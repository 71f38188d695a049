/**
 * CRC-32C (Castagnoli, RFC 3720 §B.4), the checksum Secret Manager puts in
 * `payload.data_crc32c`.
 *
 * Written by hand on purpose, where tvm otherwise prefers a well-kept library: it is a
 * dozen lines of table-driven code with a standard check value, and the popular
 * packages are native add-ons or unmaintained. Speed is irrelevant for secret-sized
 * payloads.
 */

/** Reflected Castagnoli polynomial 0x1EDC6F41. */
const POLYNOMIAL = 0x82f63b78;

/** Built on first use: only deployments that read Secret Manager need it. */
let table: Uint32Array | undefined;

function buildTable(): Uint32Array {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) {
      c = c & 1 ? (c >>> 1) ^ POLYNOMIAL : c >>> 1;
    }
    table[n] = c >>> 0;
  }
  return table;
}

/** CRC-32C of `data` as an unsigned 32-bit integer; crc32c("123456789") = 0xE3069283. */
export function crc32c(data: Uint8Array): number {
  const t = (table ??= buildTable());
  let crc = 0xffffffff;
  for (const byte of data) {
    crc = (t[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}
