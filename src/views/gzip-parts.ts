// One gzip body made of parts compressed apart, so that a part many responses
// share is compressed once and kept, and the few bytes that differ with every
// response (a page's masked CSRF token, its form nonce) are stored as they are:
// a kept page needs no compressor at all.
//
// Deflate (RFC 1951) allows it: a stream is a series of blocks, and a part
// compressed by its own compressor refers to nothing before it. Ended with a
// sync flush (an empty stored block: byte-aligned, not final), a part can be
// followed by the next part's blocks, or by stored blocks; an empty final
// block ends the stream. The gzip wrapper (RFC 1952) then needs the CRC-32 and
// length of the whole, which are combined from the parts' own: the kept part's
// bytes need not be read again.
//
// What it costs: the pieces compressed apart share no context, so a list page
// of 100 todos is ~7.3 KB gzipped instead of ~5.5 KB; what it buys, the page's
// compression at ~18 µs instead of ~40 µs of CPU (docs/performance.md). And no
// secret ever shares a compression context with what a page echoes.
import zlib from 'node:zlib';
import negotiate from '@fastify/accept-negotiator';

/** Raw deflate blocks, byte-aligned and not final, with the CRC-32 and length of what they hold. */
export interface DeflatedPart {
  readonly deflated: Buffer;
  readonly crc: number;
  readonly length: number;
  /** x^(8·length) modulo the CRC polynomial: what moves a CRC past this part, worked out once with it. */
  readonly shift: number;
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

function partOf(deflated: Buffer, data: Buffer): DeflatedPart {
  return { deflated, crc: zlib.crc32(data), length: data.length, shift: shiftFactor(data.length) };
}

export function deflatePart(data: Buffer): DeflatedPart {
  return partOf(zlib.deflateRawSync(data, { ...optionsFor(data), finishFlush: zlib.constants.Z_SYNC_FLUSH }), data);
}

/** The most a stored block holds (its LEN is 16 bits). */
const STORED_BLOCK_MAX = 0xffff;

/**
 * Bytes as they are, in stored blocks (RFC 1951 3.2.4: a header byte, which
 * after a byte-aligned part is all the bits before the alignment, then LEN
 * and its complement): no compressor is set up, for the few bytes that differ
 * with every response (a token, a nonce), which would not compress anyway.
 */
export function storedPart(data: Buffer): DeflatedPart {
  const blocks: Buffer[] = [];
  for (let start = 0; start < data.length || blocks.length === 0; start += STORED_BLOCK_MAX) {
    const chunk = data.subarray(start, start + STORED_BLOCK_MAX);
    const header = Buffer.alloc(5);
    header.writeUInt16LE(chunk.length, 1);
    header.writeUInt16LE(~chunk.length & 0xffff, 3);
    blocks.push(header, chunk);
  }
  return partOf(Buffer.concat(blocks), data);
}

/** Where parts compressed once are kept: by their text, so a kept part is the compression of exactly its key. */
export interface KeptParts {
  get(text: string): DeflatedPart | undefined;
  set(text: string, part: DeflatedPart): unknown;
}

/**
 * Below this, a piece between two per-response values is stored with them
 * rather than looked up and joined as a part of its own: a hidden field's
 * name (`"><input type="hidden" name="_idempotency" value="`) deflated alone
 * saves next to nothing, and each part costs a lookup and a CRC shift.
 */
const STORED_WITH_VALUES = 256;

/**
 * A text as parts: what lies between the `perResponse` values (a page's CSRF
 * token, its form nonce: what differs with every response) deflated once and
 * kept by its text, those values (and short pieces between them) stored as
 * they are. Cut where the values occur in the text, so the parts joined are
 * the text, whatever it holds.
 */
export function partsOf(text: string, perResponse: readonly string[], kept: KeptParts): DeflatedPart[] {
  const values = perResponse.filter((value) => value !== '');
  const next = values.map((value) => text.indexOf(value));
  const parts: DeflatedPart[] = [];
  let stored = '';
  const flush = () => {
    if (stored !== '') parts.push(storedPart(Buffer.from(stored)));
    stored = '';
  };
  let from = 0;
  for (;;) {
    let which = -1;
    for (let index = 0; index < values.length; index++) {
      const at = next[index] ?? -1;
      if (at !== -1 && (which === -1 || at < (next[which] ?? -1))) which = index;
    }
    const at = which === -1 ? text.length : (next[which] ?? text.length);
    const piece = text.slice(from, at);
    if (piece.length < STORED_WITH_VALUES && which !== -1) stored += piece;
    else if (piece !== '') {
      flush();
      let part = kept.get(piece);
      if (!part) {
        part = deflatePart(Buffer.from(piece));
        kept.set(piece, part);
      }
      parts.push(part);
    }
    if (which === -1) break;
    const value = values[which] ?? '';
    stored += value;
    from = at + value.length;
    // Every value found before `from` is looked for again after it (values may overlap).
    for (let index = 0; index < values.length; index++)
      if ((next[index] ?? -1) !== -1 && (next[index] ?? 0) < from)
        next[index] = text.indexOf(values[index] ?? '', from);
  }
  flush();
  return parts;
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
/** The final block: stored, empty (BFINAL 1, BTYPE 00, LEN 0, NLEN 0xffff); every part before it is byte-aligned. */
const FINAL_BLOCK = Buffer.from([0x01, 0x00, 0x00, 0xff, 0xff]);

/** A gzip body: the parts' contents in order. */
export function gzipParts(parts: readonly DeflatedPart[]): Buffer {
  let crc = 0;
  let length = 0;
  for (const part of parts) {
    crc = (multiplyModP(part.shift, crc) ^ part.crc) >>> 0;
    length += part.length;
  }
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc >>> 0, 0);
  trailer.writeUInt32LE(length % 2 ** 32, 4);
  return Buffer.concat([GZIP_HEADER, ...parts.map((part) => part.deflated), FINAL_BLOCK, trailer]);
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
