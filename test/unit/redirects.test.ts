// Redirect targets from user input (log-in's `next`, the list forms'
// `returnTo`): kept only when a browser would resolve them to our own origin.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { redirectTarget } from '../../src/plugins/redirects.ts';

const ORIGIN = 'http://localhost:8000';

describe('redirectTarget', () => {
  it('keeps same-origin paths, as a normalised path and query', () => {
    assert.equal(redirectTarget('/active', ORIGIN), '/active');
    assert.equal(redirectTarget('/?q=a b&sort=due', ORIGIN), '/?q=a%20b&sort=due');
    assert.equal(redirectTarget('/todos/../completed', ORIGIN), '/completed');
    assert.equal(redirectTarget('/x#fragment', ORIGIN), '/x');
    assert.equal(redirectTarget('/é', ORIGIN), '/%C3%A9');
    assert.equal(redirectTarget('http://localhost:8000/completed?q=1', ORIGIN), '/completed?q=1');
    assert.equal(redirectTarget('//localhost:8000/completed', ORIGIN), '/completed');
  });

  it('falls back for anything a browser would take elsewhere', () => {
    for (const evil of [
      '//evil.example',
      '///evil.example',
      '/\\evil.example',
      '\\\\evil.example',
      'https://evil.example/',
      'http://localhost:8001/',
      'https://localhost:8000/',
      '/\t/evil.example/x',
      '/\n/evil.example/x',
      '/\r/evil.example/x',
      '/.//evil.example',
      '/./\\evil.example',
      'javascript:alert(1)',
      'data:text/html,hi',
      ' //evil.example',
      'http://user@localhost:8000/',
    ]) {
      assert.equal(redirectTarget(evil, ORIGIN), '/', JSON.stringify(evil));
    }
  });

  it('falls back for control characters, relative paths, empty and missing values', () => {
    for (const odd of ['/?a=\x01b', '/\x00', '/a\x7f', 'active', '', '?q=1', '/' + 'a'.repeat(5000)]) {
      assert.equal(redirectTarget(odd, ORIGIN), '/', JSON.stringify(odd));
    }
    assert.equal(redirectTarget(undefined, ORIGIN), '/');
    assert.equal(redirectTarget('//evil.example', ORIGIN, '/account'), '/account');
  });

  it('gives back what it can put in a Location header as it is', () => {
    for (const target of ['/a b', '/"<>`{}|^', '/?x="<>`', '/\u2028', '/%ZZ']) {
      assert.match(redirectTarget(target, ORIGIN), /^\/(?!\/)[\x21-\x7e]*$/, JSON.stringify(target));
    }
  });
});
