// One gzip body made of parts compressed apart, so that a part many responses
// share is compressed once and kept, and only the small parts that differ per
// response (a page's CSRF token, its form key, what it echoes) are compressed
// per request.
//
// Deflate (RFC 1951) allows it: a stream is a series of blocks, and a part
// compressed by its own compressor refers to nothing before it. Ended with a
// sync flush (an empty stored block: byte-aligned, not final), a part can be
// followed by the next part's blocks; only the last part ends the stream. The
// gzip wrapper (RFC 1952) then needs the CRC-32 and length of the whole, which
// are combined from the parts' own: the kept part's bytes need not be read again.
import zlib from 'node:zlib';
import negotiate from '@fastify/accept-negotiator';

/** Raw deflate blocks, byte-aligned and not final, with the CRC-32 and length of what they hold. */
export interface DeflatedPart {
  readonly deflated: Buffer;
  readonly crc: number;
  readonly length: number;
}

/**
 * Level 1, the fast end, as for the app's other responses
 * (plugins/compression.ts). A part of a few KB (what surrounds a page's
 * items) needs no 32 KB window: with a 4 KB one, zlib's set-up, most of the
 * cost of so little data, takes half the time, for the same bytes.
 */
function optionsFor(data: Buffer): zlib.ZlibOptions {
  return data.length <= 4096 ? { level: 1, windowBits: 12, memLevel: 5 } : { level: 1 };
}

export function deflatePart(data: Buffer): DeflatedPart {
  return {
    deflated: zlib.deflateRawSync(data, { ...optionsFor(data), finishFlush: zlib.constants.Z_SYNC_FLUSH }),
    crc: zlib.crc32(data),
    length: data.length,
  };
}

/** Whether a request's Accept-Encoding takes gzip (`*` and `x-gzip` count; q=0 refuses). */
export function acceptsGzip(acceptEncoding: string | undefined): boolean {
  return (
    acceptEncoding !== undefined &&
    negotiate(acceptEncoding.toLowerCase().replace(/\*|x-gzip/g, 'gzip'), ['gzip']) === 'gzip'
  );
}

/** ID1 ID2, deflate, no flags, no time, no extra flags, unknown OS. */
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);

/** A gzip body: the parts' contents in order, then `last`, which ends the stream. */
export function gzipParts(parts: readonly DeflatedPart[], last: Buffer): Buffer {
  const end = zlib.deflateRawSync(last, optionsFor(last));
  let crc = 0;
  let length = 0;
  for (const part of parts) {
    crc = crc32Combine(crc, part.crc, part.length);
    length += part.length;
  }
  crc = crc32Combine(crc, zlib.crc32(last), last.length);
  length += last.length;
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc >>> 0, 0);
  trailer.writeUInt32LE(length % 2 ** 32, 4);
  return Buffer.concat([GZIP_HEADER, ...parts.map((part) => part.deflated), end, trailer]);
}

// CRC-32 of two byte strings joined, from the CRC-32 of each and the second's
// length: crc(A‖B) = crc(A)·x^(8·|B|) + crc(B) in GF(2)[x] modulo the CRC
// polynomial (bits reflected, as CRC-32 keeps them). x^(8·|B|) is made by
// squaring: x^(2^k) is kept for every k.

/** The CRC-32 polynomial, reflected. */
const POLYNOMIAL = 0xedb88320;
/** x^0 in the reflected representation (the highest bit). */
const ONE = 0x80000000;

/** a·b modulo the polynomial. */
function multiplyModP(a: number, b: number): number {
  let product = 0;
  for (let bit = ONE; bit !== 0; bit >>>= 1) {
    if (a & bit) product ^= b;
    b = b & 1 ? (b >>> 1) ^ POLYNOMIAL : b >>> 1;
  }
  return product >>> 0;
}

/** x^(2^k) modulo the polynomial, for k = 0…31. */
const X_TO_2_TO_THE: number[] = [];
for (let power = ONE >>> 1, k = 0; k < 32; k++, power = multiplyModP(power, power)) X_TO_2_TO_THE.push(power);

/** x^(8·n) modulo the polynomial: the factor that shifts a CRC past n bytes. */
function shiftFactor(bytes: number): number {
  let factor = ONE;
  // 8·n = n·2^3: walk n's bits from x^(2^3) up.
  for (let k = 3, n = bytes; n > 0; k++, n = Math.floor(n / 2)) {
    if (n % 2 === 1) factor = multiplyModP(X_TO_2_TO_THE[k % 32] ?? ONE, factor);
  }
  return factor;
}

export function crc32Combine(first: number, second: number, secondLength: number): number {
  return (multiplyModP(shiftFactor(secondLength), first) ^ second) >>> 0;
}
