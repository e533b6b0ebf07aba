// A gzip body stitched from parts compressed apart is one valid gzip stream
// of the parts joined, whatever their sizes.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import {
  crc32Combine,
  deflatePart,
  gzipParts,
  partsOf,
  storedPart,
  type DeflatedPart,
} from '../../src/views/gzip-parts.ts';

describe('gzip from parts compressed apart', () => {
  it('combines CRC-32s as if computed over the joined bytes', () => {
    for (const [a, b] of [
      [0, 0],
      [0, 1],
      [1, 0],
      [7, 300],
      [5000, 65_537],
      [1, 200_000],
    ] as const) {
      const first = randomBytes(a);
      const second = randomBytes(b);
      assert.equal(
        crc32Combine(zlib.crc32(first), zlib.crc32(second), second.length),
        zlib.crc32(Buffer.concat([first, second])),
        `${a} + ${b} bytes`,
      );
    }
  });

  it('makes a body that gunzip (CRC and length checked) reads back as the parts joined', () => {
    const html = (text: string) => Buffer.from(text.repeat(50));
    const cases: Buffer[][] = [
      [html('<head>é</head>'), html('<li>shared 😀 item</li>\n'), html('<footer>')],
      [Buffer.alloc(0), Buffer.alloc(0), Buffer.alloc(0)],
      [randomBytes(100_000), html('x'), randomBytes(70_000)],
      [Buffer.from('only the last part')],
    ];
    for (const parts of cases) {
      // Compressed, stored as they are (a stored block holds at most 65,535 bytes), and the two mixed.
      for (const make of [
        deflatePart,
        storedPart,
        (data: Buffer, index: number) => (index % 2 ? storedPart(data) : deflatePart(data)),
      ]) {
        const body = gzipParts(parts.map(make));
        assert.deepEqual(zlib.gunzipSync(body, { finishFlush: zlib.constants.Z_FINISH }), Buffer.concat(parts));
        // Exactly one member: nothing after the trailer.
        assert.equal(body.subarray(-4).readUInt32LE(0), Buffer.concat(parts).length);
      }
    }
  });

  it('lets one compressed part be reused between different neighbours', () => {
    const items = '<ul>'.padEnd(5000, 'ab');
    const shared = deflatePart(Buffer.from(items));
    for (const token of ['one', 'two']) {
      const body = gzipParts([
        deflatePart(Buffer.from(`<form token=${token}>`)),
        shared,
        storedPart(Buffer.from(`</ul>${token}`)),
      ]);
      assert.equal(zlib.gunzipSync(body).toString(), `<form token=${token}>${items}</ul>${token}`);
    }
  });

  it('cuts a text at its per-response values, keeps the rest by its text, and joins back to the text', () => {
    const kept = new Map<string, DeflatedPart>();
    const head = '<head>'.padEnd(400, 'h');
    const form = '<form>é 😀'.padEnd(300, 'f');
    const page = (token: string, nonce: string) =>
      `${head}<meta content="${token}">${form}<input value="${token}"><input value="${nonce}">${form}</form>${nonce}`;
    for (const [token, nonce] of [
      ['tok-1', 'n-1'],
      ['tok-1', 'n-2'],
      ['tok-2', 'n-3'],
    ] as const) {
      const text = page(token, nonce);
      const parts = partsOf(text, [token, nonce, ''], kept);
      assert.equal(zlib.gunzipSync(gzipParts(parts)).toString(), text);
    }
    // The long pieces between the values are the same for every token and nonce: kept once each. The short
    // ones are stored with the values.
    assert.deepEqual([...kept.keys()], [`${head}<meta content="`, `">${form}<input value="`, `">${form}</form>`]);
    // Values that overlap, repeat, or are absent, and a text that is only a value.
    for (const [text, values] of [
      ['aaaa', ['aa']],
      ['abcabc', ['bc', 'abc']],
      ['nothing here', ['absent']],
      ['token', ['token']],
      ['', ['x']],
    ] as const) {
      assert.equal(zlib.gunzipSync(gzipParts(partsOf(text, values, kept))).toString(), text, text);
    }
  });
});
