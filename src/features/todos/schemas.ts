// The wire shapes of the todo routes: request validation, TypeScript types,
// response serialisation and the OpenAPI document. A todo's own shape (Todo,
// CreateTodo, UpdateTodo, toJson) is derived from its field list, fields.ts.
import { createHash } from 'node:crypto';
import { Type, type Static, type TObject, type TOptional, type TSchema } from 'typebox';
import { INT4_MAX, isStored, TODO_FIELDS, type DerivedField, type TodoField, type TodoFields } from './fields.ts';

type Entries = readonly (readonly [string, TodoField])[];

/** The fields of a list, as [wire name, field] in their order; the names checked to be identifiers, since SQL aliases and generated code use them. */
export function fieldEntries(fields: Record<string, TodoField>): Entries {
  const entries = Object.entries(fields);
  for (const [name] of entries)
    if (!/^[A-Za-z_$][\w$]*$/.test(name))
      throw new Error(`a todo field's name must be an identifier: ${JSON.stringify(name)}`);
  return entries;
}

type StoredName = { [K in keyof TodoFields]: TodoFields[K] extends { column: string } ? K : never }[keyof TodoFields];
type InputOf<F> = F extends { input: infer S extends TSchema } ? S : never;
type CreateProperties = {
  [K in keyof TodoFields as TodoFields[K] extends { onCreate: unknown } ? K : never]: TodoFields[K] extends {
    onCreate: 'required';
  }
    ? InputOf<TodoFields[K]>
    : TOptional<InputOf<TodoFields[K]>>;
};
type UpdateProperties = {
  [K in keyof TodoFields as TodoFields[K] extends { onPatch: true } ? K : never]: TOptional<InputOf<TodoFields[K]>>;
};

/** The Todo schema of a field list: each field's wire schema, in order. */
export function todoSchemaOf(fields: Record<string, TodoField>): TObject {
  return Type.Object(Object.fromEntries(fieldEntries(fields).map(([name, field]) => [name, field.schema])), {
    additionalProperties: false,
  });
}

/** The body of a create (`'create'`) or a patch (`'patch'`): the fields writable then, required on create only where the list says so. */
export function inputSchemaOf(fields: Record<string, TodoField>, on: 'create' | 'patch'): TObject {
  const properties: Record<string, TSchema> = {};
  for (const [name, field] of fieldEntries(fields)) {
    if (!isStored(field) || !field.input || (on === 'create' ? !field.onCreate : !field.onPatch)) continue;
    properties[name] = on === 'create' && field.onCreate === 'required' ? field.input : Type.Optional(field.input);
  }
  return Type.Object(properties, { additionalProperties: false });
}

export const Todo = todoSchemaOf(TODO_FIELDS) as TObject<{ [K in keyof TodoFields]: TodoFields[K]['schema'] }>;
/** A todo as the API shows it. */
export type TodoJson = Static<typeof Todo>;
/** A todo as the repository reads it: the stored fields' wire values, and the row's version (its xmin, different after every change, so what was made of it can be reused until then). */
export type TodoRecord = Pick<TodoJson, StoredName> & { version: string };

export const CreateTodo = inputSchemaOf(TODO_FIELDS, 'create') as TObject<CreateProperties>;
export type CreateTodo = Static<typeof CreateTodo>;

export const UpdateTodo = inputSchemaOf(TODO_FIELDS, 'patch') as TObject<UpdateProperties>;
export type UpdateTodo = Static<typeof UpdateTodo>;

/**
 * The function writing a todo as the API shows it, from a field list: an
 * object with exactly the schema's fields, in its order, which JSON.stringify
 * then writes as the schema's own serializer (fast-json-stringify) would
 * (test/todos/shape.test.ts holds the two, and the SQL-side JSON, to the same
 * bytes). It is compiled from the list, as Ajv and fast-json-stringify compile
 * schemas, because an object literal is what keeps a list of 100 as fast as
 * the hand-written function it replaces: one built key by key in a loop was a
 * quarter slower. The code is made of the fields' names (identifiers, checked)
 * and their positions only.
 */
export function compileToJson<Row extends { id: number }, Json>(
  fields: Record<string, TodoField>,
): (todo: Row, base: string) => Json {
  const derived: DerivedField['derived']['js'][] = [];
  const properties = fieldEntries(fields).map(([name, field]) => {
    if (isStored(field)) return `${name}: todo.${name}`;
    derived.push(field.derived.js);
    return `${name}: derived[${derived.length - 1}](todo, base)`;
  });
  return new Function('derived', `return (todo, base) => ({ ${properties.join(', ')} });`)(derived) as (
    todo: Row,
    base: string,
  ) => Json;
}

/** A todo as the API shows it: exactly the fields of the Todo schema (a spread of the row would pass on any column a query added, and was slower). */
export const toJson: (todo: TodoRecord, base: string) => TodoJson = compileToJson(TODO_FIELDS);

/**
 * Names how a todo's JSON is written, for the list bodies' ETags (list-cache.ts):
 * a hash of the schema and of each field's SQL, so that adding, reordering
 * or rewriting a field changes every ETag a client kept, even where the rows
 * (and their versions) stay the same, as they do when a migration adds a
 * column with a default.
 */
export function jsonFormatOf(fields: Record<string, TodoField>): string {
  const described = fieldEntries(fields).map(([name, field]) =>
    isStored(field)
      ? [name, field.schema, field.column, field.json?.('c') ?? 'c']
      : [name, field.schema, field.derived.sql('t', 'b')],
  );
  return createHash('sha1').update(JSON.stringify(described)).digest('base64url').slice(0, 12);
}
export const TODO_JSON_FORMAT = jsonFormatOf(TODO_FIELDS);

export const ListTodosQuery = Type.Object(
  {
    completed: Type.Optional(Type.Boolean({ description: 'Only completed (true) or only active (false) todos.' })),
    q: Type.Optional(Type.String({ maxLength: 200, description: 'Text searched in title and notes.' })),
    sort: Type.Optional(
      Type.Union([Type.Literal('newest'), Type.Literal('due'), Type.Literal('order')], {
        description:
          'newest first (default), by due date (undated last), or by manual order. Paging with cursor needs newest.',
      }),
    ),
    limit: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 500, description: 'Page size; the next page is in the Link header.' }),
    ),
    cursor: Type.Optional(Type.String({ maxLength: 100, description: 'Opaque position from a Link header.' })),
  },
  { additionalProperties: false },
);
export type ListTodosQuery = Static<typeof ListTodosQuery>;

export const TodoIdParams = Type.Object({ id: Type.String() });

// Bulk actions: each is one SQL statement (or one transaction), so it happens
// whole or not at all, whatever happens to the connection.

export const SetCompletedForAll = Type.Object(
  { completed: Type.Boolean({ description: 'The state every todo of the caller gets.' }) },
  { additionalProperties: false },
);
export type SetCompletedForAll = Static<typeof SetCompletedForAll>;

export const DeleteTodosQuery = Type.Object(
  {
    completed: Type.Optional(
      Type.Boolean({ description: 'Delete only the completed (true) or only the active (false) todos.' }),
    ),
  },
  { additionalProperties: false },
);

export const MAX_BULK_IDS = 1000;
export const DeleteSelectedTodos = Type.Object(
  {
    ids: Type.Array(Type.Integer({ minimum: 1, maximum: INT4_MAX }), {
      minItems: 1,
      maxItems: MAX_BULK_IDS,
      description: "Ids of the caller's todos to delete; ids of todos the caller does not have are ignored.",
    }),
  },
  { additionalProperties: false },
);
export type DeleteSelectedTodos = Static<typeof DeleteSelectedTodos>;

export const BulkResult = Type.Object(
  { count: Type.Integer({ description: 'How many todos were changed or deleted.' }) },
  { additionalProperties: false },
);

export const MoveTodo = Type.Object(
  {
    direction: Type.Enum(['up', 'down'], {
      description: 'Swap places with the neighbour above (up) or below (down) in manual order.',
    }),
  },
  { additionalProperties: false },
);
export type MoveTodo = Static<typeof MoveTodo>;

export const ErrorResponse = Type.Object(
  {
    error: Type.String(),
    details: Type.Optional(Type.Array(Type.Object({ field: Type.String(), message: Type.String() }))),
  },
  { additionalProperties: false },
);
