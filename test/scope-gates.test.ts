// Gates per scope (issue 13): every route of the API answers a stranger 401
// before it looks at what was sent, and every route of the todo pages sends a
// stranger to log in — swept over the routes the app actually registers, so a
// route added later is covered without a test of its own.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ENGINES, startTestApp, type TestApp } from './support/app.ts';

/** A path for a route pattern: each parameter becomes a plausible value. */
const pathFor = (url: string) => url.replace(/:[A-Za-z]+/g, '1').replace(/\*$/, 'x');

for (const engine of ENGINES) {
  describe(`scope gates on ${engine}`, () => {
    let t: TestApp;
    before(async () => {
      t = await startTestApp(engine);
    });
    after(() => t.close());

    it('every API route but the public ones answers 401 to no credentials, whatever the body, and changes nothing', async () => {
      const routes = t.routes.filter(
        (route) =>
          route.url.startsWith('/api/') &&
          !route.url.startsWith('/api/docs') &&
          !route.public &&
          route.method !== 'HEAD' &&
          route.method !== 'OPTIONS',
      );
      assert.ok(routes.length >= 8, `only ${routes.length} API routes found`);
      const before = await t.db.query('SELECT count(*)::int AS n FROM todos');
      for (const route of routes) {
        const hasBody = !['GET', 'DELETE'].includes(route.method);
        // A body that no route accepts: the gate must answer before validation would.
        const response = await t.request(pathFor(route.url), {
          method: route.method,
          anonymous: true,
          ...(hasBody ? { json: { title: 5, bogus: true } } : {}),
        });
        assert.equal(response.status, 401, `${route.method} ${route.url}: ${response.status}`);
        assert.match(((await response.json()) as { error: string }).error, /Authentication required/);
      }
      assert.deepEqual(await t.db.query('SELECT count(*)::int AS n FROM todos'), before);
      // With a token every one of them is let through the gate (whatever it then answers).
      for (const route of routes.filter((r) => r.method === 'GET')) {
        assert.notEqual((await t.request(pathFor(route.url))).status, 401, `${route.method} ${route.url} with a token`);
      }
    });

    it('the public API routes and unknown API paths still answer as before', async () => {
      assert.equal((await t.request('/api/openapi.json', { anonymous: true })).status, 200);
      assert.equal((await t.request('/api/nowhere', { anonymous: true })).status, 404);
    });

    it('every todo page route sends a stranger to log in, before parsing the form', async () => {
      const pages = t.routes.filter(
        (route) =>
          (route.url === '/' ||
            route.url === '/active' ||
            route.url === '/completed' ||
            route.url.startsWith('/todos')) &&
          route.method !== 'HEAD',
      );
      assert.ok(pages.length >= 8, `only ${pages.length} page routes found`);
      for (const route of pages) {
        const body =
          route.method === 'POST'
            ? { body: 'title=x&completed=maybe', headers: { 'content-type': 'application/x-www-form-urlencoded' } }
            : {};
        const response = await t.request(pathFor(route.url), {
          method: route.method,
          anonymous: true,
          redirect: 'manual',
          ...body,
        });
        assert.equal(response.status, 303, `${route.method} ${route.url}: ${response.status}`);
        assert.match(response.headers.get('location') ?? '', /^\/login/);
      }
    });
  });
}
