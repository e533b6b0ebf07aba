import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isoTimestamp } from '../../src/db/sql.ts';

describe('isoTimestamp', () => {
  it('writes PostgreSQL timestamptz text as Date.prototype.toISOString() does', () => {
    const cases: [text: string, iso: string][] = [
      ['2026-11-24 20:58:08.175+00', '2026-11-24T20:58:08.175Z'],
      ['2026-11-24 20:58:08.17+00', '2026-11-24T20:58:08.170Z'],
      ['2026-11-24 20:58:08.1+00', '2026-11-24T20:58:08.100Z'],
      ['2021-03-08 00:00:00+00', '2021-03-08T00:00:00.000Z'],
      // A session in another time zone takes the slow path, to the same instant.
      ['2026-11-24 21:58:08.175+01', '2026-11-24T20:58:08.175Z'],
      ['2026-11-24 15:28:08.5-05:30', '2026-11-24T20:58:08.500Z'],
    ];
    for (const [text, iso] of cases) assert.equal(isoTimestamp(text), iso, text);
  });
});
