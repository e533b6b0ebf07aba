// Password policy (NIST 800-63B style): at least 8 characters, no composition
// rules, not one of the ~49,000 most common passwords. Hashing is argon2id.
import { hash, verify } from '@node-rs/argon2';
import { dictionary } from '@zxcvbn-ts/language-common';

export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 200;

const common = new Set((dictionary['passwords-common'] as string[]).map((word) => word.toLowerCase()));

/** Why a new password is refused, or undefined when it is acceptable. */
export function passwordProblem(password: string, username?: string): string | undefined {
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH) return `must be at least ${PASSWORD_MIN_LENGTH} characters`;
  if (length > PASSWORD_MAX_LENGTH) return `must be at most ${PASSWORD_MAX_LENGTH} characters`;
  if (common.has(password.toLowerCase())) return 'is too common; choose one that is harder to guess';
  if (username !== undefined && password.toLowerCase() === username.toLowerCase()) return 'must not be the username';
  return undefined;
}

export function hashPassword(password: string): Promise<string> {
  return hash(password); // argon2id, the library's default (m=19 MiB, t=2, p=1)
}

// Verifying against this when the user does not exist keeps the answer time
// the same, so response times do not reveal which usernames exist.
const DUMMY_HASH = hashPassword('not a real password, only for timing');

export async function verifyPassword(passwordHash: string | undefined, password: string): Promise<boolean> {
  try {
    return await verify(passwordHash ?? (await DUMMY_HASH), password);
  } catch {
    return false;
  }
}
