// Sign up, log in, log out, and the account page's form posts.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type, type TProperties } from 'typebox';
import type { Config } from '../../config.ts';
import type { Database } from '../../db/database.ts';
import { parseRowId } from '../../db/sql.ts';
import { newSecret, type Auth } from '../../plugins/auth.ts';
import { HttpError } from '../../plugins/errors.ts';
import { sendHtml } from '../../plugins/html-reply.ts';
import { redirectTarget } from '../../plugins/redirects.ts';
import { renderAccountPage, renderLoginPage, renderSignupPage } from '../../views/account-pages.ts';
import type { Viewer } from '../../views/pages.ts';
import { hashPassword, passwordProblem, verifyPassword } from './passwords.ts';
import {
  InvalidSetupCodeError,
  rateLimits,
  tokensRepository,
  UsernameTakenError,
  usersRepository,
  type RateLimit,
} from './repository.ts';
import { hashSetupCode, normalizeSetupCode } from './setup-code.ts';

export interface AccountRouteOptions {
  db: Database;
  config: Config;
  auth: Auth;
  viewerOf: (request: FastifyRequest, reply: FastifyReply) => Viewer | undefined;
}

// Password guesses (log-in, and the account page's current-password checks)
// are counted per account and client address, so a stranger's ten guesses
// hold back that stranger, not the owner elsewhere; per account, a much
// higher ceiling against guesses spread over many addresses; per address,
// one for guesses spread over many accounts.
const PASSWORD_WINDOW_SECONDS = 15 * 60;
const GUESSES_PER_ACCOUNT_AND_ADDRESS = 10;
const GUESSES_PER_ACCOUNT = 100;
const GUESSES_PER_ADDRESS = 50;
const SIGNUP_WINDOW_SECONDS = 60 * 60;
const SIGNUPS_PER_ADDRESS = 10;
const USERNAME = /^[A-Za-z0-9_.-]{1,50}$/;

/** The counters a password guess for `username` from `address` is counted against. */
function passwordGuessLimits(username: string, address: string): RateLimit[] {
  const account = username.trim().toLowerCase();
  return [
    // The address comes last and never holds a '|', so the key is unambiguous.
    { key: `password:pair:${account}|${address}`, limit: GUESSES_PER_ACCOUNT_AND_ADDRESS },
    { key: `password:account:${account}`, limit: GUESSES_PER_ACCOUNT },
    { key: `password:addr:${address}`, limit: GUESSES_PER_ADDRESS },
  ];
}

/**
 * Checks a password, throttled: the guess is counted (and refused beyond a
 * limit) before the hash is verified. A right password starts this account
 * and address afresh and does not count against the wider ceilings.
 */
async function throttledVerify(
  db: Database,
  username: string,
  address: string,
  passwordHash: string | undefined,
  password: string,
): Promise<{ wait: number; valid: boolean }> {
  const limits = passwordGuessLimits(username, address);
  const wait = await rateLimits.hit(db, limits, PASSWORD_WINDOW_SECONDS);
  if (wait > 0) return { wait, valid: false };
  const valid = await verifyPassword(passwordHash, password);
  if (valid) {
    const [pair, ...wider] = limits.map((entry) => entry.key);
    await rateLimits.reset(db, [pair as string]);
    await rateLimits.takeBack(db, wider);
  }
  return { wait: 0, valid };
}

const minutes = (seconds: number) => Math.ceil(seconds / 60);

const Form = <T extends TProperties>(fields: T) =>
  Type.Object({ ...fields, _csrf: Type.Optional(Type.String()) }, { additionalProperties: false });
const text = () => Type.String({ maxLength: 1000 });

/** Only same-origin targets (plugins/redirects.ts), so the login form cannot be turned into an open redirect. */
function safeNext(request: FastifyRequest, next: string | undefined): string {
  return redirectTarget(next, request.publicOrigin);
}

export const accountRoutes: FastifyPluginAsyncTypebox<AccountRouteOptions> = async (
  app,
  { db, config, auth, viewerOf },
) => {
  const registrationOpen = config.registration === 'open';
  const anonymous = { anonymousCsrf: true };

  app.get('/login', async (request, reply) => {
    if (request.user) return reply.redirect('/', 303);
    const next =
      typeof (request.query as { next?: unknown }).next === 'string'
        ? (request.query as { next: string }).next
        : undefined;
    return sendHtml(reply, 200, renderLoginPage(auth.csrfToken(request, reply), { registrationOpen, next }));
  });

  app.post(
    '/login',
    { config: anonymous, schema: { body: Form({ username: text(), password: text(), next: Type.Optional(text()) }) } },
    async (request, reply) => {
      const { username, password, next } = request.body;
      const page = (status: number, error: string) =>
        sendHtml(
          reply,
          status,
          renderLoginPage(auth.csrfToken(request, reply), { problem: { error }, username, registrationOpen, next }),
        );
      const user = await usersRepository.findByUsername(db, username.trim());
      const { wait, valid } = await throttledVerify(db, username, request.ip, user?.passwordHash, password);
      if (wait > 0) {
        reply.header('retry-after', String(wait));
        return page(429, `Too many failed log-in attempts. Try again in ${minutes(wait)} minute(s).`);
      }
      if (!user || !valid || user.isDisabled) {
        return page(401, user?.isDisabled && valid ? 'This account is disabled.' : 'Wrong username or password.');
      }
      await auth.startSession(request, reply, user.id);
      return reply.redirect(safeNext(request, next), 303);
    },
  );

  app.post('/logout', async (request, reply) => {
    await auth.endSession(request, reply);
    return reply.redirect('/login', 303);
  });

  // While no admin exists the sign-up form asks for the setup code the server
  // printed when it started (features/accounts/setup-code.ts). Without one it
  // makes an ordinary account; a wrong one is refused, so a typo is noticed.
  app.get('/signup', async (request, reply) => {
    if (!registrationOpen) throw new HttpError(404, 'Registration is closed');
    const setup = !(await usersRepository.adminExists(db));
    return sendHtml(reply, 200, renderSignupPage(auth.csrfToken(request, reply), { setup }));
  });

  app.post(
    '/signup',
    {
      config: anonymous,
      schema: {
        body: Form({ username: text(), password: text(), setupCode: Type.Optional(Type.String({ maxLength: 100 })) }),
      },
    },
    async (request, reply) => {
      if (!registrationOpen) throw new HttpError(404, 'Registration is closed');
      const username = request.body.username.trim();
      const { password } = request.body;
      const setupCode = normalizeSetupCode(request.body.setupCode ?? '');
      const render = async (status: number, problem: Parameters<typeof renderSignupPage>[1]['problem']) =>
        sendHtml(
          reply,
          status,
          renderSignupPage(auth.csrfToken(request, reply), {
            username,
            problem,
            setup: !(await usersRepository.adminExists(db)),
          }),
        );
      const refuse = (field: string, message: string, status = 400) =>
        render(status, { error: 'The account was not created', details: [{ field, message }] });
      if (!USERNAME.test(username))
        return refuse('username', 'must be 1–50 letters, digits, dots, dashes or underscores');
      const problem = await passwordProblem(password, username);
      if (problem) return refuse('password', problem);
      // Counted before the (deliberately slow) hash, in the database so every replica shares it.
      const wait = await rateLimits.hit(
        db,
        [{ key: `signup:addr:${request.ip}`, limit: SIGNUPS_PER_ADDRESS }],
        SIGNUP_WINDOW_SECONDS,
      );
      if (wait > 0) {
        reply.header('retry-after', String(wait));
        return render(429, { error: `Too many sign-ups from your address. Try again in ${minutes(wait)} minute(s).` });
      }
      try {
        const setupCodeHash = setupCode === '' ? undefined : hashSetupCode(auth.hash, setupCode);
        const user = await usersRepository.create(db, {
          username,
          passwordHash: await hashPassword(password),
          setupCodeHash,
        });
        await auth.startSession(request, reply, user.id);
      } catch (error) {
        if (error instanceof UsernameTakenError) return refuse('username', 'is taken', 409);
        if (error instanceof InvalidSetupCodeError)
          return refuse('setupCode', 'is not the setup code the server printed, or it was used already');
        throw error;
      }
      return reply.redirect('/', 303);
    },
  );

  // Everything below is for a logged-in person.
  const accountPage = async (
    request: FastifyRequest,
    reply: FastifyReply,
    status: number,
    extra: Parameters<typeof renderAccountPage>[2] = {},
  ) => {
    const viewer = viewerOf(request, reply);
    if (!viewer || !request.user) return reply.redirect('/login', 303);
    return sendHtml(
      reply,
      status,
      renderAccountPage(viewer, await tokensRepository.listForUser(db, request.user.id), extra),
    );
  };

  app.get('/account', async (request, reply) => {
    const { notice } = request.query as { notice?: string };
    return accountPage(
      request,
      reply,
      200,
      notice === 'password' ? { notice: 'Your password was changed; other sessions were logged out.' } : {},
    );
  });

  /**
   * The page for a current-password check that failed (throttled exactly like
   * log-in: see throttledVerify). Returned straight to Fastify: a reply is a
   * thenable, so no async helper may hand one back to a caller that awaits it.
   */
  const wrongPasswordPage = (
    request: FastifyRequest,
    reply: FastifyReply,
    wait: number,
    refusal: { error: string; field: string; message: string },
  ) => {
    if (wait > 0) {
      reply.header('retry-after', String(wait));
      return accountPage(request, reply, 429, {
        problem: { error: `${refusal.error}. Too many wrong passwords: try again in ${minutes(wait)} minute(s).` },
      });
    }
    return accountPage(request, reply, 400, {
      problem: { error: refusal.error, details: [{ field: refusal.field, message: refusal.message }] },
    });
  };

  app.post(
    '/account/password',
    { schema: { body: Form({ currentPassword: text(), newPassword: text() }) } },
    async (request, reply) => {
      const user = request.user && (await usersRepository.findWithPassword(db, request.user.id));
      if (!user) return reply.redirect('/login', 303);
      const fail = (field: string, message: string) =>
        accountPage(request, reply, 400, {
          problem: { error: 'The password was not changed', details: [{ field, message }] },
        });
      const { wait, valid } = await throttledVerify(
        db,
        user.username,
        request.ip,
        user.passwordHash,
        request.body.currentPassword,
      );
      if (!valid)
        return wrongPasswordPage(request, reply, wait, {
          error: 'The password was not changed',
          field: 'currentPassword',
          message: 'is not your current password',
        });
      const problem = await passwordProblem(request.body.newPassword, user.username);
      if (problem) return fail('newPassword', problem);
      await usersRepository.setPassword(db, user.id, await hashPassword(request.body.newPassword));
      auth.forgetLookups(); // the other sessions ended: refused from the next request on
      await auth.startSession(request, reply, user.id); // every old session ended; this browser stays in
      return reply.redirect('/account?notice=password', 303);
    },
  );

  app.post('/account/delete', { schema: { body: Form({ password: text() }) } }, async (request, reply) => {
    const user = request.user && (await usersRepository.findWithPassword(db, request.user.id));
    if (!user) return reply.redirect('/login', 303);
    const { wait, valid } = await throttledVerify(
      db,
      user.username,
      request.ip,
      user.passwordHash,
      request.body.password,
    );
    if (!valid)
      return wrongPasswordPage(request, reply, wait, {
        error: 'The account was not deleted',
        field: 'password',
        message: 'is not your password',
      });
    await usersRepository.delete(db, user.id);
    auth.forgetLookups(); // its tokens and other sessions went with it
    await auth.endSession(request, reply);
    return reply.redirect('/login', 303);
  });

  app.post(
    '/account/tokens',
    { schema: { body: Form({ name: Type.String({ maxLength: 100 }) }) } },
    async (request, reply) => {
      if (!request.user) return reply.redirect('/login', 303);
      const value = newSecret();
      const name = request.body.name.trim();
      await tokensRepository.create(db, request.user.id, name, auth.hash(value));
      return accountPage(request, reply, 201, { newToken: { name, value } });
    },
  );

  app.post(
    '/account/tokens/:id/revoke',
    { schema: { params: Type.Object({ id: Type.String() }) } },
    async (request, reply) => {
      if (!request.user) return reply.redirect('/login', 303);
      const id = parseRowId(request.params.id);
      if (id === undefined || !(await tokensRepository.revokeForUser(db, request.user.id, id)))
        throw new HttpError(404, 'Token not found');
      auth.forgetLookups(); // refused from the next request on, not in a second
      return reply.redirect('/account', 303);
    },
  );
};
