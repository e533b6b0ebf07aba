// The benchmark's data: one person with 100 todos (a realistic mix of notes,
// due dates and completed ones), an API token and a logged-in session,
// made through the app's own repositories.
import { loadConfig } from '../../src/config.ts';
import { openDatabase } from '../../src/db/database.ts';
import { hashPassword } from '../../src/features/accounts/passwords.ts';
import { sessionsRepository, tokensRepository, usersRepository } from '../../src/features/accounts/repository.ts';
import { todosRepository } from '../../src/features/todos/repository.ts';
import { keyedHash, newSecret } from '../../src/plugins/auth.ts';

export const TODO_COUNT = 100;

export interface Seeded {
  userId: number;
  /** Their Inbox, where the seeded todos are and the API's writes go. */
  listId: number;
  token: string;
  sessionId: string;
  todoIds: number[];
}

const CHORES = [
  'Buy groceries for the week',
  'Call the plumber about the kitchen sink',
  'Renew the car insurance',
  'Book dentist appointment',
  'Write the quarterly report',
  'Water the plants on the balcony',
  'Return the library books',
  'Plan the team offsite agenda',
];

export async function seed(databaseUrl: string, secretKey: string): Promise<Seeded> {
  const db = await openDatabase(loadConfig({ DATABASE_URL: databaseUrl, SECRET_KEY: secretKey, LOG_LEVEL: 'silent' }));
  try {
    const user = await usersRepository.create(db, {
      username: 'bench',
      passwordHash: await hashPassword('a bench password nobody types'),
    });
    const token = newSecret();
    await tokensRepository.create(db, user.id, 'bench', keyedHash(secretKey, token));
    const sessionId = newSecret();
    await sessionsRepository.create(db, keyedHash(secretKey, sessionId), user.id, 30);
    const todoIds: number[] = [];
    for (let i = 0; i < TODO_COUNT; i++) {
      const day = String(1 + (i % 28)).padStart(2, '0');
      const todo = await todosRepository.createIn(
        db,
        { userId: user.id, listId: user.inboxId },
        {
          title: `${CHORES[i % CHORES.length]} (#${i + 1})`,
          notes: i % 3 === 0 ? 'Remember to check the details first & bring the receipts.\nSecond line of notes.' : '',
          dueDate: i % 4 === 0 ? `2030-0${1 + (i % 9)}-${day}` : i % 10 === 1 ? `2020-01-${day}` : null,
          completed: i % 5 === 0,
        },
      );
      if (!todo) throw new Error('the bench user could not add to their own Inbox');
      todoIds.push(todo.id);
    }
    return { userId: user.id, listId: user.inboxId, token, sessionId, todoIds };
  } finally {
    await db.close();
  }
}
