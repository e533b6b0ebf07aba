// The list page with 100 todos, HTML + CSS + JS, must stay under 60 KB once
// gzip-compressed (issue 4's weight budget). Sizes are deterministic.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { startTestApp } from '../support/app.ts';

const BUDGET_BYTES = 60 * 1024;

describe('page weight', () => {
  it('the list page with 100 todos is under 60 KB gzipped, HTML + CSS + JS', async () => {
    const t = await startTestApp('pglite');
    try {
      for (let index = 0; index < 100; index++) {
        const response = await t.request('/api/todos', {
          method: 'POST',
          json: { title: `Todo number ${index}: ${'a fairly typical length of title '.slice(0, 20 + (index % 13))}`, dueDate: index % 3 ? '2030-06-15' : null, notes: index % 4 ? '' : 'Some notes about it.' },
        });
        assert.equal(response.status, 201);
      }
      const browser = await t.browserFor(t.alice);
      const html = await browser.page('/');
      const assets = [...html.matchAll(/(?:href|src)="(\/static\/[^"]+)"/g)].map((match) => match[1] ?? '');
      assert.ok(assets.some((asset) => asset.endsWith('.css')));
      let total = gzipSync(html).length;
      const sizes: Record<string, number> = { html: total };
      for (const asset of assets) {
        const body = Buffer.from(await (await browser.fetch(asset)).arrayBuffer());
        sizes[asset] = gzipSync(body).length;
        total += sizes[asset] ?? 0;
      }
      console.log(`gzipped bytes: ${JSON.stringify(sizes)}, total ${total} of ${BUDGET_BYTES}`);
      assert.ok(total < BUDGET_BYTES, `${total} bytes`);
    } finally {
      await t.close();
    }
  });
});
