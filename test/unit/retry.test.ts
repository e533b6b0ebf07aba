// The retry budget's edges, without a database: errors shaped like a lost
// server are retried until the budget ends; a budget of 0 means one attempt
// with no deadline of its own.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DatabaseWaitTimeout, retryWhileUnavailable } from '../../src/db/retry.ts';

const refused = () => Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });

describe('retryWhileUnavailable', () => {
  it('retries a server that is away until it answers', async () => {
    let attempts = 0;
    const result = await retryWhileUnavailable(async () => {
      if (++attempts < 3) throw refused();
      return 'answer';
    }, 5000);
    assert.equal(result, 'answer');
    assert.equal(attempts, 3);
  });

  it('does not retry other errors', async () => {
    let attempts = 0;
    await assert.rejects(
      retryWhileUnavailable(async () => {
        attempts++;
        throw Object.assign(new Error('syntax error'), { code: '42601' });
      }, 5000),
      /syntax error/,
    );
    assert.equal(attempts, 1);
  });

  it('gives up waiting for work that hangs when the budget ends', async () => {
    await assert.rejects(
      retryWhileUnavailable(() => new Promise(() => {}), 50),
      DatabaseWaitTimeout,
    );
  });

  it('with a budget of 0, tries once and waits for the work however long it takes', async () => {
    assert.equal(await retryWhileUnavailable(() => sleep(30).then(() => 'slow'), 0), 'slow');
    let attempts = 0;
    await assert.rejects(
      retryWhileUnavailable(async () => {
        attempts++;
        throw refused();
      }, 0),
      /ECONNREFUSED/,
    );
    assert.equal(attempts, 1);
  });
});
