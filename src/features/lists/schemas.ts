// The wire shapes of lists and their members.
import { Type, type Static } from 'typebox';
import { INT4_MAX, INT4_MIN } from '../todos/fields.ts';
import type { ListRecord } from './repository.ts';

export const LIST_NAME_MAX_LENGTH = 100;

const Role = Type.Union([Type.Literal('owner'), Type.Literal('editor'), Type.Literal('viewer')], {
  description: "The caller's role: the owner may do everything, an editor change its todos, a viewer read them.",
});
const MemberRole = Type.Union([Type.Literal('editor'), Type.Literal('viewer')]);

export const List = Type.Object(
  {
    id: Type.Integer(),
    uid: Type.String({ format: 'uuid' }),
    name: Type.String(),
    role: Role,
    owner: Type.String({ description: "The owner's username." }),
    activeCount: Type.Integer({ description: 'How many of its todos are not completed.' }),
    position: Type.Integer({ description: "Its place among the owner's lists (ascending)." }),
    inbox: Type.Boolean({
      description: "The owner's Inbox: the list of /api/todos; it cannot be archived or deleted.",
    }),
    archived: Type.Boolean({ description: 'Hidden from the lists on the page, kept.' }),
    url: Type.String({ format: 'uri' }),
  },
  { additionalProperties: false },
);
export type ListJson = Static<typeof List>;

export function listJson(list: ListRecord, base: string): ListJson {
  return {
    id: list.id,
    uid: list.uid,
    name: list.name,
    role: list.role,
    owner: list.owner,
    activeCount: list.activeCount,
    position: list.position,
    inbox: list.isInbox,
    archived: list.archived,
    url: `${base}/api/lists/${list.id}`,
  };
}

const Name = Type.String({
  minLength: 1,
  maxLength: LIST_NAME_MAX_LENGTH,
  description: `Trimmed; 1–${LIST_NAME_MAX_LENGTH} characters.`,
});

export const CreateList = Type.Object({ name: Name }, { additionalProperties: false });
export type CreateList = Static<typeof CreateList>;

export const UpdateList = Type.Object(
  {
    name: Type.Optional(Name),
    position: Type.Optional(Type.Integer({ minimum: INT4_MIN, maximum: INT4_MAX })),
    archived: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type UpdateList = Static<typeof UpdateList>;

export const ListIdParams = Type.Object({ listId: Type.String() });

export const Member = Type.Object({ username: Type.String(), role: MemberRole }, { additionalProperties: false });
export const MemberParams = Type.Object({ listId: Type.String(), username: Type.String({ maxLength: 50 }) });
export const ShareList = Type.Object({ role: MemberRole }, { additionalProperties: false });
export type ShareList = Static<typeof ShareList>;
