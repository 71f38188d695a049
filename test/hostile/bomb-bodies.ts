/**
 * Decompression bombs. The brotli one is a constant (made once with Node's zlib at
 * quality 11, window 24, from 1 GiB of zeros: making it takes most of a minute); gzip
 * and deflate bombs are made on first use. test/hostile/bomb-bodies.test.ts checks
 * what they inflate to.
 */
import zlib from 'node:zlib';

export const GiB = 1024 ** 3;

/** 841 bytes of brotli that inflate to 1 GiB of zeros. */
export const BROTLI_1GIB = Buffer.from(
  'z///f/gnAOKxQCD3/p/////wTwDEYQGA7v0/////4Z8AiMMiAN37f/7//8M/ARCHBQC69//8//+HfwIgDgsAdO//+f//D/8EQBwWAOje//P//x/+CYA4LADQvf/n//8//BMAcVgAoHv/z///f/gnAOKwAED3/p/////wTwDEYQGA7v0/////4Z8AiMMCAN37f/7//8M/ARCHBQC69//8//+HfwIgDgsAdO//+f//D/8EQBwWAOje//P//x/+CYA4LADQvf/n//8//BMAcVgAoHv/z///f/gnAOKwAED3/p/////wTwDEYQGA7v0/////4Z8AiMMCAN37f/7//8M/ARCHBQC69//8//+HfwIgDgsAdO//+f//D/8EQBwWAOje//P//x/+CYA4LADQvf/n//8//BMAcVgAoHv/z///f/gnAOKwAED3/p/////wTwDEYQGA7v0/////4Z8AiMMCAN37f/7//8M/ARCHBQC69//8//+HfwIgDgsAdO//+f//D/8EQBwWAOje//P//x/+CYA4LADQvf/n//8//BMAcVgAoHv/z///f/gnAOKwAED3/p/////wTwDEYQGA7v0/////4Z8AiMMCAN37f/7//8M/ARCHBQC69//8//+HfwIgDgsAdO//+f//D/8EQBwWAOje//P//x/+CYA4LADQvf/n//8//BMAcVgAoHv/z///f/gnAOKwAED3/p/////wTwDEYQGA7v0/////4Z8AiMMCAN37f/7//8M/ARCHBQC69//8//+HfwIgDgsAdO//+f//D/8EQBwWAOje//P//x/+CYA4LADQvf/n//8//BMAcVgAoHv/z///f/gnAOKwAED3/p/////wTwDEYQGA7v0/////4Z8AiMMCAN37f/7//8M/ARCHBQC69//8//+HfwIgDgsAdO//+f//D/8EQBwWAOje//P//x/+CYA4LADQvf/n//8//BMAcVgAoHv/z///f/gnAOKwAED3/p/////wTwDEYQGA7v0/////4Z8AiMMCAN37f/7//8M/ARCHBQC69//8//+HfwIgDgsAdO//+f//D/8EQBwWAOje//P//x/+CYA4LADQvf/n//8//BMAcVgAoHv/Pw==',
  'base64',
);

const made = new Map<string, Buffer>();

/**
 * A gzip or deflate stream of 1 GiB of zeros (about 1 MiB), made once: 1 MiB of zeros
 * deflated and sync-flushed (so it ends on a byte boundary and refers only to zeros
 * before it) repeated 1024 times, then an empty final block and the checksum trailer.
 * Compressing 1 GiB outright takes seconds on a shared core; this takes one.
 */
export function gzipBomb(kind: 'gzip' | 'deflate'): Buffer {
  let b = made.get(kind);
  if (b) return b;
  const piece = zlib.deflateRawSync(Buffer.alloc(1024 * 1024), {
    level: 9,
    finishFlush: zlib.constants.Z_SYNC_FLUSH,
  });
  const blocks = [...Array<Buffer>(1024).fill(piece), Buffer.from([3, 0])];
  if (kind === 'gzip') {
    let crc = 0;
    const zeros = Buffer.alloc(16 * 1024 * 1024);
    for (let i = 0; i < 64; i++) crc = zlib.crc32(zeros, crc);
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(crc >>> 0, 0);
    trailer.writeUInt32LE(GiB % 2 ** 32, 4);
    const header = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    b = Buffer.concat([header, ...blocks, trailer]);
  } else {
    // Adler-32 of n zeros: a = 1, b = n mod 65521 (RFC 1950 §8.2).
    const trailer = Buffer.alloc(4);
    trailer.writeUInt32BE((((GiB % 65521) << 16) | 1) >>> 0, 0);
    b = Buffer.concat([Buffer.from([0x78, 0xda]), ...blocks, trailer]);
  }
  made.set(kind, b);
  return b;
}

/**
 * Bytes `body` inflates to with `encoding`, counted as a stream (never all in memory);
 * stops counting once past `stopAfter`.
 */
export async function inflatedSize(
  body: Buffer,
  encoding: 'br' | 'gzip' | 'deflate',
  stopAfter = Infinity,
): Promise<number> {
  const s =
    encoding === 'br'
      ? zlib.createBrotliDecompress()
      : encoding === 'gzip'
        ? zlib.createGunzip()
        : zlib.createInflate();
  let n = 0;
  const done = new Promise<void>((resolve, reject) => {
    s.on('data', (c: Buffer) => {
      n += c.length;
      if (n > stopAfter) {
        s.destroy();
        resolve();
      }
    });
    s.on('end', resolve);
    s.on('error', reject);
  });
  s.end(body);
  await done;
  return n;
}
