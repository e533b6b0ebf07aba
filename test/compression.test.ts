// What goes over the wire: static assets precompressed (brotli, else gzip,
// chosen by Accept-Encoding), HTML pages and large JSON compressed on the
// fly, always with Vary: Accept-Encoding, and the decoded bytes exactly those
// an uncompressed answer carries.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { startTestApp, type TestApp } from './support/app.ts';
import type { BrowserSession } from './support/browser.ts';
import { rawRequestBytes } from './support/http.ts';

const decode = (encoding: string | undefined, body: Buffer): Buffer =>
  encoding === 'br' ? brotliDecompressSync(body) : encoding === 'gzip' ? gunzipSync(body) : body;

describe('compression', () => {
  let t: TestApp;
  let browser: BrowserSession;
  let assets: string[];
  before(async () => {
    t = await startTestApp('pglite');
    for (let index = 0; index < 30; index++)
      await t.request('/api/todos', { method: 'POST', json: { title: `Todo number ${index}`, notes: 'a note' } });
    browser = await t.browserFor(t.alice);
    assets = [...(await browser.page('/')).matchAll(/(?:href|src)="(\/static\/[^"]+)"/g)].map(
      (match) => match[1] ?? '',
    );
  });
  after(() => t.close());

  const get = (path: string, headers: Record<string, string> = {}) => rawRequestBytes(t.baseUrl, { path, headers });

  it('serves CSS and JS precompressed, by Accept-Encoding, cached immutable, with Vary', async () => {
    assert.deepEqual(assets.map((asset) => asset.split('.').pop()).sort(), ['css', 'js']);
    for (const asset of assets) {
      const plain = await get(asset);
      assert.equal(plain.status, 200);
      assert.equal(plain.headers['content-encoding'], undefined, `${asset}: no Accept-Encoding, no encoding`);
      assert.equal(plain.headers['vary'], 'accept-encoding');
      for (const [acceptEncoding, expected] of [
        ['gzip, deflate, br, zstd', 'br'], // what Chromium sends
        ['gzip', 'gzip'],
        ['br;q=0, gzip', 'gzip'],
        ['gzip;q=0.5, br;q=0.8', 'br'],
        ['identity', undefined],
        ['deflate', undefined],
      ] as const) {
        const response = await get(asset, { 'accept-encoding': acceptEncoding });
        const label = `${asset} with Accept-Encoding: ${acceptEncoding}`;
        assert.equal(response.status, 200, label);
        assert.equal(response.headers['content-encoding'], expected, label);
        assert.equal(response.headers['vary'], 'accept-encoding', label);
        assert.equal(response.headers['cache-control'], 'public, max-age=31536000, immutable', label);
        assert.equal(Number(response.headers['content-length']), response.body.length, label);
        assert.ok(decode(expected, response.body).equals(plain.body), `${label}: decodes to the same bytes`);
        if (expected)
          assert.ok(
            response.body.length < plain.body.length * 0.6,
            `${label}: ${response.body.length} of ${plain.body.length} bytes`,
          );
      }
      const br = await get(asset, { 'accept-encoding': 'br' });
      const gzip = await get(asset, { 'accept-encoding': 'gzip' });
      assert.ok(br.body.length <= gzip.body.length, `${asset}: brotli ${br.body.length} ≤ gzip ${gzip.body.length}`);
    }
  });

  it('compresses HTML pages on the fly, decoding to the very same page', async () => {
    const headers = { cookie: `todoapp_session=${browser.cookie('todoapp_session')}`, accept: 'text/html' };
    const plain = await get('/', headers);
    assert.equal(plain.status, 200);
    assert.equal(plain.headers['content-encoding'], undefined);
    for (const encoding of ['br', 'gzip'] as const) {
      const response = await get('/', { ...headers, 'accept-encoding': encoding });
      assert.equal(response.status, 200);
      assert.equal(response.headers['content-encoding'], encoding);
      assert.match(String(response.headers['vary']), /accept-encoding/i);
      assert.equal(response.headers['cache-control'], 'private, no-store', 'HTML is still never cached');
      // Each render has its own form nonce and a freshly masked CSRF token; the rest is the same.
      const withoutKeys = (page: Buffer) =>
        page
          .toString('utf8')
          .replace(/name="_idempotency" value="[^"]+"/g, '')
          .replace(/(name="_csrf" value|name="csrf-token" content)="[^"]+"/g, '$1');
      assert.equal(
        withoutKeys(decode(encoding, response.body)),
        withoutKeys(plain.body),
        `${encoding} decodes to the same page`,
      );
      assert.ok(
        response.body.length < plain.body.length / 4,
        `${encoding}: ${response.body.length} of ${plain.body.length} bytes`,
      );
    }
  });

  it('compresses large JSON answers, and leaves small ones as they are', async () => {
    const headers = { authorization: `Bearer ${t.alice.token}` };
    const plain = await get('/api/todos', headers);
    assert.ok(plain.body.length > 1024);
    const response = await get('/api/todos', { ...headers, 'accept-encoding': 'gzip, br' });
    assert.equal(response.headers['content-encoding'], 'br');
    assert.match(String(response.headers['vary']), /accept-encoding/i);
    assert.deepEqual(JSON.parse(decode('br', response.body).toString('utf8')), JSON.parse(plain.body.toString('utf8')));

    const [first] = JSON.parse(plain.body.toString('utf8')) as { id: number }[];
    const small = await get(`/api/todos/${first?.id}`, { ...headers, 'accept-encoding': 'gzip, br' });
    assert.equal(small.status, 200);
    assert.equal(small.headers['content-encoding'], undefined, 'under 1 KB: not worth compressing');
  });
});
