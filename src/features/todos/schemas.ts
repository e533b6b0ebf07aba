// One source for request validation, TypeScript types, response serialisation
// and the OpenAPI document.
import { Type, type Static } from 'typebox';

export const TITLE_MAX_LENGTH = 250;
const INT4_MIN = -2_147_483_648;
const INT4_MAX = 2_147_483_647;

const Title = Type.String({ minLength: 1, maxLength: TITLE_MAX_LENGTH, description: 'Trimmed; 1–250 characters.' });
const Notes = Type.String({ maxLength: 100_000, description: 'Free text.' });
const DueDate = Type.Union([Type.String({ format: 'date', description: 'A calendar date, YYYY-MM-DD.' }), Type.Null()]);
const Order = Type.Integer({ minimum: INT4_MIN, maximum: INT4_MAX, description: 'Position for manual sorting.' });

export const Todo = Type.Object(
  {
    id: Type.Integer(),
    title: Type.String(),
    notes: Type.String(),
    // OpenAPI 3.0's nullable rather than a union: the response serializer
    // then writes it directly instead of validating each value against both branches.
    dueDate: Type.Unsafe<string | null>({ type: 'string', format: 'date', nullable: true }),
    completed: Type.Boolean(),
    order: Type.Integer(),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
    url: Type.String({ format: 'uri', description: 'Absolute URL of this todo.' }),
  },
  { additionalProperties: false },
);

export const CreateTodo = Type.Object(
  {
    title: Title,
    notes: Type.Optional(Notes),
    dueDate: Type.Optional(DueDate),
    completed: Type.Optional(Type.Boolean()),
    order: Type.Optional(Order),
  },
  { additionalProperties: false },
);
export type CreateTodo = Static<typeof CreateTodo>;

export const UpdateTodo = Type.Object(
  {
    title: Type.Optional(Title),
    notes: Type.Optional(Notes),
    dueDate: Type.Optional(DueDate),
    completed: Type.Optional(Type.Boolean()),
    order: Type.Optional(Order),
  },
  { additionalProperties: false },
);
export type UpdateTodo = Static<typeof UpdateTodo>;

export const ListTodosQuery = Type.Object(
  {
    completed: Type.Optional(Type.Boolean({ description: 'Only completed (true) or only active (false) todos.' })),
    q: Type.Optional(Type.String({ maxLength: 200, description: 'Text searched in title and notes.' })),
    sort: Type.Optional(
      Type.Union([Type.Literal('newest'), Type.Literal('due'), Type.Literal('order')], {
        description: 'newest first (default), by due date (undated last), or by manual order. Paging with cursor needs newest.',
      }),
    ),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, description: 'Page size; the next page is in the Link header.' })),
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
  { completed: Type.Optional(Type.Boolean({ description: 'Delete only the completed (true) or only the active (false) todos.' })) },
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

export const BulkResult = Type.Object({ count: Type.Integer({ description: 'How many todos were changed or deleted.' }) }, { additionalProperties: false });

export const MoveTodo = Type.Object(
  { direction: Type.Enum(['up', 'down'], { description: 'Swap places with the neighbour above (up) or below (down) in manual order.' }) },
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
