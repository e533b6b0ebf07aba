// Graceful shutdown of a real `todoapp serve` process: a request in flight
// when SIGTERM arrives still completes, then the process exits 0.
import assert from 'node:assert/strict';
import http from 'node:http';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../../src/config.ts';
import { openDatabase } from '../../src/db/database.ts';
import { ENGINES, freshDatabase } from '../support/app.ts';
import { runCli, startCliServer } from '../support/cli.ts';

for (const engine of ENGINES) {
  describe(`graceful shutdown on ${engine}`, () => {
    it('finishes the in-flight request, then exits 0', async () => {
      const database = await freshDatabase(engine);
      try {
        // Set up as an operator would: migrate, create an admin and a token.
        assert.equal((await runCli(['migrate'], database.env)).code, 0);
        assert.equal(
          (
            await runCli(['createsuperuser', '--username', 'admin'], {
              ...database.env,
              TODOAPP_PASSWORD: 'a long admin passphrase',
            })
          ).code,
          0,
        );
        const token = (await runCli(['create-token', '--username', 'admin'], database.env)).stdout.trim();
        const server = await startCliServer(database.env);
        const url = new URL(server.baseUrl);
        const body = JSON.stringify({ title: 'sent during shutdown' });
        // Start a request and send only half its body: it is in flight.
        const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
          const request = http.request(
            {
              host: url.hostname,
              port: url.port,
              path: '/api/todos',
              method: 'POST',
              headers: {
                authorization: `Bearer ${token}`,
                'content-type': 'application/json',
                'content-length': Buffer.byteLength(body),
                host: 'localhost',
              },
            },
            (res) => {
              let text = '';
              res.on('data', (chunk: Buffer) => (text += chunk));
              res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
            },
          );
          request.on('error', reject);
          request.write(body.slice(0, 10));
          void sleep(300)
            .then(() => {
              server.child.kill('SIGTERM');
              return sleep(500);
            })
            .then(() => request.end(body.slice(10)));
        });
        const answered = await response;
        assert.equal(answered.status, 201, answered.body);
        assert.equal(await server.exited(), 0, server.output());
        assert.match(server.output(), /shut down cleanly/);

        const db = await openDatabase(loadConfig(database.env));
        try {
          const rows = await db.query<{ title: string }>('SELECT title FROM todos');
          assert.deepEqual(
            rows.map((row) => row.title),
            ['sent during shutdown'],
          );
        } finally {
          await db.close();
        }
      } finally {
        await database.cleanup();
      }
    });
  });
}
