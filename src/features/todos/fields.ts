// The fields of a todo: the one list that says what a todo is, on the wire
// and in the database. Adding a field is one entry here plus a migration;
// everything else is derived from this list (see README.md in this folder):
// the Todo, CreateTodo and UpdateTodo schemas and their types (schemas.ts),
// the SQL that reads, inserts, patches and writes a todo as JSON
// (repository.ts), the JavaScript serialisation (schemas.ts's toJson), the
// list bodies' format (list-cache.ts), the OpenAPI document and the tests'
// types and samples.
import { Type, type TSchema } from 'typebox';
import { isoTimestamp } from '../../db/sql.ts';

export const TITLE_MAX_LENGTH = 250;
export const INT4_MIN = -2_147_483_648;
export const INT4_MAX = 2_147_483_647;

/** A field kept in a column of `todos`. */
export interface StoredField {
  /** Its value as a response shows it: the Todo schema's property. */
  readonly schema: TSchema;
  /** The column, as SQL names it (quoted where it is a keyword). */
  readonly column: string;
  /** Its SQL type: parameters that write it are cast to it. */
  readonly sqlType: string;
  /**
   * SQL reading the (possibly qualified) column for a TodoRecord, when what
   * the drivers decode is not the wire value: a date as text, not a Date.
   */
  readonly select?: (column: string) => string;
  /** Makes the wire value of what `select` read, where JavaScript does it cheaper than SQL. */
  readonly fromSelected?: (selected: string) => unknown;
  /** SQL writing the wire value inside row_to_json, when the column's own JSON is not it. */
  readonly json?: (column: string) => string;
  /** Writable through the API and the forms: the schema of the value given. */
  readonly input?: TSchema;
  /** Given on create: `'required'`, or the SQL the column gets when it is absent (`$1` is the list's id). */
  readonly onCreate?: 'required' | { readonly default: string };
  /** Changed by PATCH (optional there, like every field of a patch). */
  readonly onPatch?: true;
  /**
   * Wire values the agreement test (test/todos/shape.test.ts) stores in the
   * column and reads back through both serialisations: the awkward ones
   * (escapes, extremes, null). Empty only for what the database alone sets,
   * and for a todo's list, whose values must name lists (test/lists/ moves todos).
   */
  readonly samples: readonly unknown[];
}

/** A field made from the others whenever a todo is shown, not stored. */
export interface DerivedField {
  readonly schema: TSchema;
  readonly derived: {
    /** In SQL: `table` qualifies the todo's columns, `base` is the SQL of the API's base URL. */
    readonly sql: (table: string, base: string) => string;
    /** In JavaScript, from the todo as read and the API's base URL. */
    readonly js: (todo: { readonly id: number }, base: string) => unknown;
  };
}

export type TodoField = StoredField | DerivedField;

export function isStored(field: TodoField): field is StoredField {
  return 'column' in field;
}

/** A timestamptz written by SQL as Date.prototype.toISOString() writes it (as isoTimestamp does in JavaScript). */
const isoText = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
// Timestamps leave the database as text and become ISO strings in JavaScript:
// no Date objects are made for the API's strings (see isoTimestamp).
const asText = (column: string) => `${column}::text`;
const timestamp = { sqlType: 'timestamptz', select: asText, fromSelected: isoTimestamp, json: isoText } as const;
const TIMESTAMP_SAMPLES = ['1999-12-31T23:59:59.000Z', '2026-07-08T09:10:11.120Z', '2031-02-03T04:05:06.789Z'];
/** Escapes JSON needs (quote, backslash, control characters), ones it must not make (slash, HTML, U+2028), and non-ASCII. */
const AWKWARD_TEXT =
  'Quote " backslash \\ slash / tab \t bell \u0007 unit \u001f line\nbreak\r\u2028 é 😀 <b>&amp;</b>';

/**
 * A todo's fields, in the order responses write them. Every entry's key is
 * its wire name (a JavaScript identifier).
 */
export const TODO_FIELDS = {
  id: { schema: Type.Integer(), column: 'id', sqlType: 'integer', samples: [] },
  // Stable and globally unique, made by the database: CalDAV clients and importers address a todo by it.
  uid: { schema: Type.String({ format: 'uuid' }), column: 'uid', sqlType: 'uuid', samples: [] },
  listId: {
    schema: Type.Integer({ description: 'The list it belongs to (GET /api/lists).' }),
    column: 'list_id',
    sqlType: 'integer',
    // A patch with another list moves the todo there (a list the caller may change); a new one goes to the list it is posted to.
    input: Type.Integer({
      minimum: 1,
      maximum: INT4_MAX,
      description: 'Move it to this list (one the caller may edit).',
    }),
    onPatch: true,
    samples: [],
  },
  title: {
    schema: Type.String(),
    column: 'title',
    sqlType: 'text',
    input: Type.String({ minLength: 1, maxLength: TITLE_MAX_LENGTH, description: 'Trimmed; 1–250 characters.' }),
    onCreate: 'required',
    onPatch: true,
    samples: [AWKWARD_TEXT, 'x'.repeat(TITLE_MAX_LENGTH)],
  },
  notes: {
    schema: Type.String(),
    column: 'notes',
    sqlType: 'text',
    input: Type.String({ maxLength: 100_000, description: 'Free text.' }),
    onCreate: { default: "''" },
    onPatch: true,
    samples: ['', AWKWARD_TEXT, `${AWKWARD_TEXT} `.repeat(40)],
  },
  dueDate: {
    // OpenAPI 3.0's nullable rather than a union: the response serializer
    // then writes it directly instead of validating each value against both branches.
    schema: Type.Unsafe<string | null>({ type: 'string', format: 'date', nullable: true }),
    column: 'due_date',
    sqlType: 'date',
    select: asText,
    input: Type.Union([Type.String({ format: 'date', description: 'A calendar date, YYYY-MM-DD.' }), Type.Null()]),
    onCreate: { default: 'NULL' },
    onPatch: true,
    samples: [null, '2031-12-31', '0001-01-01', '2024-02-29'],
  },
  completed: {
    schema: Type.Boolean(),
    column: 'completed',
    sqlType: 'boolean',
    input: Type.Boolean(),
    onCreate: { default: 'false' },
    onPatch: true,
    samples: [true, false],
  },
  order: {
    schema: Type.Integer(),
    column: '"order"',
    sqlType: 'integer',
    input: Type.Integer({ minimum: INT4_MIN, maximum: INT4_MAX, description: 'Position for manual sorting.' }),
    // After the list's other todos (todos_list_order makes the max cheap).
    // Capped: after a todo at the highest order, new ones share it (ties keep their creation order) instead of overflowing.
    onCreate: { default: '(SELECT least(coalesce(max("order"), 0), 2147483646) + 1 FROM todos WHERE list_id = $1)' },
    onPatch: true,
    samples: [INT4_MIN, INT4_MAX, 0, -5],
  },
  createdAt: {
    schema: Type.String({ format: 'date-time' }),
    column: 'created_at',
    ...timestamp,
    samples: TIMESTAMP_SAMPLES,
  },
  updatedAt: {
    schema: Type.String({ format: 'date-time' }),
    column: 'updated_at',
    ...timestamp,
    samples: TIMESTAMP_SAMPLES,
  },
  url: {
    schema: Type.String({ format: 'uri', description: 'Absolute URL of this todo.' }),
    derived: {
      sql: (table, base) => `${base} || '/api/todos/' || ${table}.id`,
      js: (todo, base) => `${base}/api/todos/${todo.id}`,
    },
  },
} as const satisfies Record<string, TodoField>;

export type TodoFields = typeof TODO_FIELDS;
