// A todo's shape has one source, its field list (src/features/todos/fields.ts).
// The two ways a todo becomes JSON — the database's (a write answers in the
// same statement as the change) and JavaScript's (toJson, for reads and the
// list) — must write the same bytes for every field, as must the Todo
// schema's own serializer; the OpenAPI document, the SQL and the types come
// from the same list. Everything here walks the list, so a new field is
// checked without a new test.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Fastify from 'fastify';
import { Type } from 'typebox';
import { compileBodyValidator } from '../../src/plugins/validation.ts';
import { isStored, TODO_FIELDS, type StoredField, type TodoField } from '../../src/features/todos/fields.ts';
import { todoSqlOf, type TodoRecord } from '../../src/features/todos/repository.ts';
import {
  compileToJson,
  CreateTodo,
  fieldEntries,
  jsonFormatOf,
  Todo,
  todoSchemaOf,
  UpdateTodo,
  type TodoJson,
} from '../../src/features/todos/schemas.ts';
import { ENGINES, startTestApp, type TestApp } from '../support/app.ts';

const FIELD_NAMES = Object.keys(TODO_FIELDS);
const STORED = fieldEntries(TODO_FIELDS).filter((entry): entry is [string, StoredField] => isStored(entry[1]));

/** A field the coming issues might add, to check that a list with one more field derives everything for it. */
const PRIORITY: StoredField = {
  schema: Type.Integer(),
  column: 'priority',
  sqlType: 'smallint',
  input: Type.Integer({ minimum: 0, maximum: 3 }),
  onCreate: { default: '0' },
  onPatch: true,
  samples: [0, 3],
};
const { url, ...beforeUrl } = TODO_FIELDS;
const WITH_PRIORITY: Record<string, TodoField> = { ...beforeUrl, priority: PRIORITY, url };

/** What the Todo schema's own serializer (fast-json-stringify, through Fastify) writes for a todo. */
async function schemaSerializer(): Promise<(todo: unknown) => Promise<string>> {
  const app = Fastify();
  let next: unknown;
  app.get('/', { schema: { response: { 200: Todo } } }, async () => next);
  await app.ready();
  return async (todo) => {
    next = todo;
    return (await app.inject({ method: 'GET', url: '/' })).body;
  };
}

const validTodo = compileBodyValidator<TodoJson>(Todo);

for (const engine of ENGINES) {
  describe(`a todo's shape on ${engine}`, () => {
    let t: TestApp;
    let serialize: (todo: unknown) => Promise<string>;
    before(async () => {
      t = await startTestApp(engine);
      serialize = await schemaSerializer();
    });
    after(() => t.close());

    /** A todo's JSON as a write answered it and as a read answers it: the same bytes, with every field, valid, as the schema's serializer writes it. */
    async function assertOneShape(written: Response, label: string): Promise<TodoJson> {
      assert.ok(written.ok, `${label}: ${written.status} ${await written.clone().text()}`);
      const fromSql = await written.text();
      const todo = JSON.parse(fromSql) as TodoJson;
      const read = await t.request(`/api/todos/${todo.id}`);
      assert.equal(await read.text(), fromSql, `${label}: the database's JSON and toJson's`);
      assert.deepEqual(Object.keys(todo), FIELD_NAMES, `${label}: every field, in the list's order`);
      assert.ok(validTodo(todo), `${label}: valid by the Todo schema: ${JSON.stringify(validTodo.errors)}`);
      assert.equal(await serialize(todo), fromSql, `${label}: the schema's serializer`);
      const listed = await (await t.request('/api/todos')).text();
      assert.ok(listed.includes(fromSql), `${label}: the list writes it the same`);
      return todo;
    }

    it('writes every sample of every stored field the same from SQL and from JavaScript', async () => {
      const todo = await assertOneShape(
        await t.request('/api/todos', { method: 'POST', json: { title: 'shape' } }),
        'created',
      );
      for (const [name, field] of STORED) {
        for (const sample of field.samples) {
          const label = `${name} = ${JSON.stringify(sample)}`;
          // Straight into the column, whether or not the API may write it.
          await t.db.query(`UPDATE todos SET ${field.column} = $1::${field.sqlType} WHERE id = $2`, [sample, todo.id]);
          // A patch of nothing answers the todo as the database writes it.
          const shown = await assertOneShape(
            await t.request(`/api/todos/${todo.id}`, { method: 'PATCH', json: {} }),
            label,
          );
          assert.deepEqual(shown[name as keyof TodoJson], sample, `${label}: shown as stored`);
        }
      }
    });

    it('answers every sample of every writable field, on create and on patch, as a read answers it', async () => {
      const { id } = (await (
        await t.request('/api/todos', { method: 'POST', json: { title: 'to patch' } })
      ).json()) as TodoJson;
      let checked = 0;
      for (const [name, field] of STORED) {
        for (const sample of field.samples) {
          const label = `${name} = ${JSON.stringify(sample)}`;
          if (field.onCreate) {
            const created = await assertOneShape(
              await t.request('/api/todos', { method: 'POST', json: { title: 'created', [name]: sample } }),
              `create with ${label}`,
            );
            assert.deepEqual(created[name as keyof TodoJson], sample, `create with ${label}`);
            checked++;
          }
          if (field.onPatch) {
            const patched = await assertOneShape(
              await t.request(`/api/todos/${id}`, { method: 'PATCH', json: { [name]: sample } }),
              `patch with ${label}`,
            );
            assert.deepEqual(patched[name as keyof TodoJson], sample, `patch with ${label}`);
            checked++;
          }
        }
      }
      assert.ok(checked > 0);
    });

    it('derives the SQL and toJson of a list with a field more, which agree byte for byte once a migration adds its column', async () => {
      const sql = todoSqlOf(WITH_PRIORITY);
      const toJson = compileToJson<TodoRecord, Record<string, unknown>>(WITH_PRIORITY);
      const base = 'https://todo.example';
      const rolledBack = new Error('rolled back');
      await assert.rejects(
        t.db.transaction(async (tx) => {
          await tx.query('ALTER TABLE todos ADD COLUMN priority smallint NOT NULL DEFAULT 0');
          // The samples above left a todo at the largest order, after which no todo fits at the end.
          await tx.query('DELETE FROM todos');
          const insert = sql.insertOf(
            { userId: t.alice.id, listId: t.alice.inboxId },
            { title: 'prioritised', priority: 3 },
          );
          const [created] = await tx.query<{ body: string; location: string }>(
            `${insert.text} RETURNING ${sql.jsonColumns(`$${insert.params.length + 1}::text`)}`,
            [...insert.params, base],
          );
          assert.ok(created);
          const fromSql = JSON.parse(created.body) as Record<string, unknown>;
          assert.deepEqual(Object.keys(fromSql), Object.keys(WITH_PRIORITY));
          assert.equal(fromSql.priority, 3);
          assert.equal(created.location, fromSql.url);
          const rows = sql.fromRows(
            await tx.query<TodoRecord>(`SELECT ${sql.columns} FROM todos WHERE id = $1`, [fromSql.id]),
          );
          assert.equal(JSON.stringify(rows.map((row) => toJson(row, base))[0]), created.body);
          const params: unknown[] = [fromSql.id];
          const [patched] = await tx.query<{ body: string }>(
            `UPDATE todos SET ${sql.assignmentsOf({ priority: 1 }, params)} WHERE id = $1 RETURNING ${sql.jsonColumns(`$${params.length + 1}::text`)}`,
            [...params, base],
          );
          assert.equal((JSON.parse(patched?.body ?? '{}') as Record<string, unknown>).priority, 1);
          throw rolledBack;
        }),
        rolledBack,
      );
    });
  });
}

describe("a todo's shape, derived from its field list", () => {
  it('makes the schemas of a todo, a create and a patch from the list', () => {
    assert.deepEqual(Object.keys(Todo.properties), FIELD_NAMES);
    assert.deepEqual(
      Object.keys(CreateTodo.properties),
      STORED.filter(([, field]) => field.onCreate).map(([name]) => name),
    );
    assert.deepEqual(
      CreateTodo.required,
      STORED.filter(([, field]) => field.onCreate === 'required').map(([name]) => name),
    );
    assert.deepEqual(
      Object.keys(UpdateTodo.properties),
      STORED.filter(([, field]) => field.onPatch).map(([name]) => name),
    );
    assert.deepEqual(UpdateTodo.required ?? [], []);
  });

  it('gives a list with a field more that field everywhere, and a new body format', () => {
    assert.deepEqual(Object.keys(todoSchemaOf(WITH_PRIORITY).properties), Object.keys(WITH_PRIORITY));
    const sql = todoSqlOf(WITH_PRIORITY);
    assert.match(sql.columns, /\bpriority\b/);
    assert.match(
      sql.insertOf({ userId: 1, listId: 1 }, { title: 'x' }).text,
      /\(list_id, owner_id, .*priority\) SELECT .*coalesce\(\$\d+::smallint, 0\) FROM lists l WHERE/,
    );
    assert.match(sql.jsonColumns('$9::text'), /todos\.priority AS "priority", .* AS "url"\) j\)/);
    assert.notEqual(jsonFormatOf(WITH_PRIORITY), jsonFormatOf(TODO_FIELDS));
    const json = compileToJson<TodoRecord & { priority: number }, Record<string, unknown>>(WITH_PRIORITY);
    const record = {
      id: 7,
      uid: '6f1c1d2e-0000-4000-8000-000000000007',
      listId: 3,
      title: 't',
      notes: '',
      dueDate: null,
      completed: false,
      order: 1,
      createdAt: 'c',
      updatedAt: 'u',
      version: 'v',
      priority: 2,
    };
    assert.equal(
      JSON.stringify(json(record, 'https://x')),
      '{"id":7,"uid":"6f1c1d2e-0000-4000-8000-000000000007","listId":3,"title":"t","notes":"","dueDate":null,"completed":false,"order":1,"createdAt":"c","updatedAt":"u","priority":2,"url":"https://x/api/todos/7"}',
    );
  });

  it('refuses a field whose name is not an identifier (names go into SQL aliases and generated code)', () => {
    assert.throws(() => fieldEntries({ ...TODO_FIELDS, 'a"b': PRIORITY }), /must be an identifier/);
  });

  it('describes a todo in the OpenAPI document exactly as the field list does', async () => {
    const t = await startTestApp('pglite');
    try {
      type Schema = { properties?: Record<string, unknown>; items?: Schema; required?: string[] };
      type Operation = {
        requestBody?: { content: Record<string, { schema: Schema }> };
        responses: Record<string, { content?: Record<string, { schema: Schema }> }>;
      };
      const document = (await (await t.request('/api/openapi.json')).json()) as {
        paths: Record<string, Record<string, Operation>>;
      };
      const json = (operation: Operation | undefined, status: string) =>
        operation?.responses[status]?.content?.['application/json']?.schema;
      const one = document.paths['/api/todos/{id}'];
      const all = document.paths['/api/todos'];
      for (const [label, schema] of [
        ['GET one', json(one?.get, '200')],
        ['PATCH', json(one?.patch, '200')],
        ['POST', json(all?.post, '201')],
        ['GET list', json(all?.get, '200')?.items],
        ['move', json(document.paths['/api/todos/{id}/move']?.post, '200')],
      ] as const) {
        assert.deepEqual(Object.keys(schema?.properties ?? {}), FIELD_NAMES, label);
      }
      const body = (operation: Operation | undefined) => operation?.requestBody?.content['application/json']?.schema;
      assert.deepEqual(Object.keys(body(all?.post)?.properties ?? {}), Object.keys(CreateTodo.properties));
      assert.deepEqual(body(all?.post)?.required, ['title']);
      assert.deepEqual(Object.keys(body(one?.patch)?.properties ?? {}), Object.keys(UpdateTodo.properties));
    } finally {
      await t.close();
    }
  });
});
