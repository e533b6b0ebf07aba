// Password policy (NIST 800-63B style): at least 8 characters, no composition
// rules, not one of the ~49,000 most common passwords. Hashing is argon2id.
// Both libraries load on first use: a server that sees no log-in or sign-up
// never holds the 49,000 common passwords (some 10 MB resident with argon2).
const argon2 = () => import('@node-rs/argon2');
let commonPasswords: Promise<Set<string>> | undefined;
const common = () =>
  (commonPasswords ??= import('@zxcvbn-ts/language-common').then(
    ({ dictionary }) => new Set((dictionary['passwords-common'] as string[]).map((word) => word.toLowerCase())),
  ));

export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 200;

/** Why a new password is refused, or undefined when it is acceptable. */
export async function passwordProblem(password: string, username?: string): Promise<string | undefined> {
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH) return `must be at least ${PASSWORD_MIN_LENGTH} characters`;
  if (length > PASSWORD_MAX_LENGTH) return `must be at most ${PASSWORD_MAX_LENGTH} characters`;
  if ((await common()).has(password.toLowerCase())) return 'is too common; choose one that is harder to guess';
  if (username !== undefined && password.toLowerCase() === username.toLowerCase()) return 'must not be the username';
  return undefined;
}

export async function hashPassword(password: string): Promise<string> {
  return (await argon2()).hash(password); // argon2id, the library's default (m=19 MiB, t=2, p=1)
}

// Verifying against this when the user does not exist keeps the answer time
// the same, so response times do not reveal which usernames exist.
let dummyHash: Promise<string> | undefined;

export async function verifyPassword(passwordHash: string | undefined, password: string): Promise<boolean> {
  try {
    return await (
      await argon2()
    ).verify(passwordHash ?? (await (dummyHash ??= hashPassword('not a real password, only for timing'))), password);
  } catch {
    return false;
  }
}
