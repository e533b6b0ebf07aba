// The first admin of a fresh server, the way Jenkins does it: nobody who
// merely reaches /signup first becomes the admin. While no admin exists, each
// server makes a random one-time code when it starts listening and prints it
// on its own terminal (standard error, so also in `docker logs` / `kubectl
// logs`), which only whoever runs the server can read. The database keeps
// only the code's keyed hash, so a sign-up through any replica can redeem any
// replica's code; the sign-up carrying one becomes the admin and every code
// is deleted. `todoapp createsuperuser` remains the other way in.
import { randomBytes } from 'node:crypto';
import type { Database } from '../../db/database.ts';
import { keyedHash } from '../../plugins/auth.ts';
import { setupCodesRepository, usersRepository } from './repository.ts';

/** Crockford's base32: no I, L, O or U, so nothing is misread when typed from a terminal. */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const GROUPS = 4;
const GROUP_LENGTH = 5; // 20 characters of 5 bits: 100 random bits

export function newSetupCode(): string {
  // 256 is a multiple of 32, so the low five bits of each byte are uniform.
  const characters = [...randomBytes(GROUPS * GROUP_LENGTH)].map((byte) => ALPHABET[byte & 31]).join('');
  return Array.from({ length: GROUPS }, (_unused, group) =>
    characters.slice(group * GROUP_LENGTH, (group + 1) * GROUP_LENGTH),
  ).join('-');
}

/** The code as typed: case, spaces and dashes do not matter; O, I and L are read as the digits they look like. */
export function normalizeSetupCode(typed: string): string {
  return typed.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
}

/** The stored form of a code (normalized, keyed by SECRET_KEY like session ids and tokens). */
export function hashSetupCode(hash: (secret: string) => string, code: string): string {
  return hash(`setup-code:${normalizeSetupCode(code)}`);
}

/**
 * At start: when no admin exists, keeps a new code and prints it with the
 * sign-up address (or, with sign-up closed, says to run createsuperuser).
 * Answers what it printed.
 */
export async function announceFirstAdminSetup(
  db: Database,
  options: { secretKey: string; registrationOpen: boolean; signupUrl: string; print: (text: string) => void },
): Promise<'setup-code' | 'createsuperuser' | undefined> {
  const createSuperuser = 'todoapp createsuperuser --username NAME';
  if (!options.registrationOpen) {
    if (await usersRepository.adminExists(db)) return undefined;
    options.print(
      `\n  No admin account exists yet, and sign-up is closed (REGISTRATION=closed).\n  Create the admin with: ${createSuperuser}\n\n`,
    );
    return 'createsuperuser';
  }
  const code = newSetupCode();
  if (
    !(await setupCodesRepository.addWhileNoAdmin(
      db,
      hashSetupCode((secret) => keyedHash(options.secretKey, secret), code),
    ))
  )
    return undefined;
  options.print(
    [
      '',
      '  ************************************************************************',
      '  No admin account exists yet. To become the admin, sign up at',
      `      ${options.signupUrl}`,
      '  with this one-time setup code (it works once, through any replica,',
      '  until an admin exists; a sign-up without it makes an ordinary account):',
      '',
      `      Setup code: ${code}`,
      '',
      `  Or create the admin with: ${createSuperuser}`,
      '  ************************************************************************',
      '',
      '',
    ].join('\n'),
  );
  return 'setup-code';
}
