import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.ts';

const SECRET_KEY = 'k'.repeat(32);

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error;
  }
  assert.fail(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe('loadConfig', () => {
  it('has working defaults: embedded database in ./data, port 8000, debug off', () => {
    const config = loadConfig({});
    assert.equal(config.port, 8000);
    assert.equal(config.metricsPort, 9464);
    assert.equal(config.debug, false);
    assert.deepEqual(config.database, { kind: 'embedded', dataDir: path.resolve('data') });
    assert.deepEqual(config.allowedHosts, ['localhost', '127.0.0.1', '[::1]']);
    assert.equal(config.trustProxy, false);
    assert.equal(config.publicUrl, undefined);
  });

  it('accepts a multi-host DATABASE_URL as given', () => {
    const url = 'postgres://u:p@db1:5432,db2:5432/todo?target_session_attrs=primary';
    assert.deepEqual(loadConfig({ DATABASE_URL: url, SECRET_KEY }).database, { kind: 'server', url });
  });

  it('builds the URL from the old app’s POSTGRES_* variables, escaping credentials', () => {
    const config = loadConfig({
      POSTGRES_HOST: 'db',
      POSTGRES_PORT: '5433',
      POSTGRES_USER: 'todo',
      POSTGRES_PASSWORD: 'p@ss/word',
      POSTGRES_DB: 'todolist',
      SECRET_KEY,
    });
    assert.deepEqual(config.database, { kind: 'server', url: 'postgres://todo:p%40ss%2Fword@db:5433/todolist' });
  });

  it('a comma-separated POSTGRES_HOST asks for the primary among them', () => {
    const config = loadConfig({ POSTGRES_HOST: 'db1,db2:5444', POSTGRES_USER: 'u', POSTGRES_DB: 'd', SECRET_KEY });
    assert.deepEqual(config.database, {
      kind: 'server',
      url: 'postgres://u@db1:5432,db2:5444/d?target_session_attrs=primary',
    });
  });

  it('reads *_FILE variables (Kubernetes secrets)', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'todoapp-config-'));
    const file = path.join(dir, 'password');
    await writeFile(file, 's3cret\n');
    const config = loadConfig({ POSTGRES_HOST: 'db', POSTGRES_USER: 'u', POSTGRES_PASSWORD_FILE: file, SECRET_KEY });
    assert.equal(config.database.kind === 'server' && config.database.url, 'postgres://u:s3cret@db:5432/u');
    assert.match(
      configError({ POSTGRES_HOST: 'db', POSTGRES_PASSWORD_FILE: path.join(dir, 'missing') }).message,
      /POSTGRES_PASSWORD_FILE/,
    );
    assert.match(
      configError({ POSTGRES_HOST: 'db', POSTGRES_PASSWORD: 'x', POSTGRES_PASSWORD_FILE: file }).message,
      /POSTGRES_PASSWORD/,
    );
  });

  it('parses TRUST_PROXY and ALLOWED_HOSTS', () => {
    assert.equal(loadConfig({ TRUST_PROXY: 'true' }).trustProxy, true);
    assert.deepEqual(loadConfig({ TRUST_PROXY: '10.0.0.0/8, 127.0.0.1' }).trustProxy, ['10.0.0.0/8', '127.0.0.1']);
    assert.deepEqual(loadConfig({ ALLOWED_HOSTS: 'Todo.Example.com, .example.org' }).allowedHosts, [
      'todo.example.com',
      '.example.org',
    ]);
  });

  it('takes PUBLIC_URL as an origin: http or https, no path but "/", no query, fragment or credentials', () => {
    assert.equal(loadConfig({ PUBLIC_URL: 'https://todo.example.com' }).publicUrl, 'https://todo.example.com');
    assert.equal(loadConfig({ PUBLIC_URL: 'https://Todo.Example.com/' }).publicUrl, 'https://todo.example.com');
    assert.equal(loadConfig({ PUBLIC_URL: 'http://10.0.0.5:8000' }).publicUrl, 'http://10.0.0.5:8000');
    assert.equal(loadConfig({ PUBLIC_URL: 'https://todo.example.com:443' }).publicUrl, 'https://todo.example.com');
    assert.equal(loadConfig({ PUBLIC_URL: 'http://[::1]:8000/' }).publicUrl, 'http://[::1]:8000');
    // Its host name is allowed with the others, once.
    assert.deepEqual(loadConfig({ PUBLIC_URL: 'https://Todo.Example.com' }).allowedHosts, [
      'localhost',
      '127.0.0.1',
      '[::1]',
      'todo.example.com',
    ]);
    assert.deepEqual(
      loadConfig({ PUBLIC_URL: 'https://todo.example.com', ALLOWED_HOSTS: 'todo.example.com,internal' }).allowedHosts,
      ['todo.example.com', 'internal'],
    );
    for (const bad of [
      'todo.example.com',
      'ftp://todo.example.com',
      'https://todo.example.com/app',
      'https://todo.example.com/?',
      'https://todo.example.com/?a=1',
      'https://todo.example.com#x',
      'https://user:pw@todo.example.com',
      'https://',
      'javascript:alert(1)',
    ]) {
      const error = configError({ PUBLIC_URL: bad });
      assert.equal(error.variable, 'PUBLIC_URL', bad);
      assert.match(error.message, /origin .* like https:\/\/todo\.example\.com/, bad);
    }
  });

  it('names the variable and what is expected when a value is wrong', () => {
    const cases: [Record<string, string>, string, RegExp][] = [
      [{ PORT: '80a' }, 'PORT', /whole number from 0 to 65535/],
      [{ PORT: '70000' }, 'PORT', /65535/],
      [{ METRICS_PORT: 'x' }, 'METRICS_PORT', /whole number from 0 to 65535/],
      [{ PORT: '9000', METRICS_PORT: '9000' }, 'METRICS_PORT', /must differ from PORT/],
      [{ DEBUG: 'sometimes' }, 'DEBUG', /true or false/],
      [{ LOG_LEVEL: 'verbose' }, 'LOG_LEVEL', /one of fatal, error/],
      [{ TRUST_PROXY: 'everyone' }, 'TRUST_PROXY', /proxy addresses\/CIDRs/],
      [{ TRUST_PROXY: '1' }, 'TRUST_PROXY', /hop count \(1\) is not supported: name the proxies' addresses/],
      [{ ALLOWED_HOSTS: 'bad host!' }, 'ALLOWED_HOSTS', /host names/],
      [{ DATABASE_URL: 'mysql://localhost/db' }, 'DATABASE_URL', /postgres:\/\//],
      [{ DATABASE_URL: 'postgres://a/b', POSTGRES_HOST: 'db' }, 'DATABASE_URL', /POSTGRES_HOST/],
      [{ DB_POOL_SIZE: '0' }, 'DB_POOL_SIZE', /from 1/],
      [{ DATABASE_URL: 'postgres://db/todo' }, 'SECRET_KEY', /required with a PostgreSQL server/],
      [{ DATABASE_URL: 'postgres://db/todo', SECRET_KEY: 'short' }, 'SECRET_KEY', /at least 32 characters/],
      [{ REGISTRATION: 'maybe' }, 'REGISTRATION', /open or closed/],
      [{ CORS_ORIGINS: 'app.example.com' }, 'CORS_ORIGINS', /origins like https/],
      [{ PUBLIC_URL: 'https://todo.example.com/app' }, 'PUBLIC_URL', /no path/],
    ];
    for (const [env, variable, expected] of cases) {
      const error = configError(env);
      assert.equal(error.variable, variable);
      assert.match(error.message, new RegExp(`\\b${variable}\\b`));
      assert.match(error.message, expected);
    }
  });
});
