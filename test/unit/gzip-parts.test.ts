// A gzip body stitched from parts compressed apart is one valid gzip stream
// of the parts joined, whatever their sizes.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';
import { crc32Combine, deflatePart, gzipParts } from '../../src/views/gzip-parts.ts';

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
      const last = parts.at(-1) ?? Buffer.alloc(0);
      const body = gzipParts(parts.slice(0, -1).map(deflatePart), last);
      assert.deepEqual(zlib.gunzipSync(body, { finishFlush: zlib.constants.Z_FINISH }), Buffer.concat(parts));
      // Exactly one member: nothing after the trailer.
      assert.equal(body.subarray(-4).readUInt32LE(0), Buffer.concat(parts).length);
    }
  });

  it('lets one compressed part be reused between different neighbours', () => {
    const items = '<ul>'.padEnd(5000, 'ab');
    const shared = deflatePart(Buffer.from(items));
    for (const token of ['one', 'two']) {
      const body = gzipParts([deflatePart(Buffer.from(`<form token=${token}>`)), shared], Buffer.from(`</ul>${token}`));
      assert.equal(zlib.gunzipSync(body).toString(), `<form token=${token}>${items}</ul>${token}`);
    }
  });
});
