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
import { loginThrottle, tokensRepository, UsernameTakenError, usersRepository } from './repository.ts';

export interface AccountRouteOptions {
  db: Database;
  config: Config;
  auth: Auth;
  viewerOf: (request: FastifyRequest, reply: FastifyReply) => Viewer | undefined;
}

const LOGIN_WINDOW_SECONDS = 15 * 60;
const LOGIN_FAILURES_PER_ACCOUNT = 10;
const LOGIN_FAILURES_PER_ADDRESS = 50;
const USERNAME = /^[A-Za-z0-9_.-]{1,50}$/;

const Form = <T extends TProperties>(fields: T) =>
  Type.Object({ ...fields, _csrf: Type.Optional(Type.String()) }, { additionalProperties: false });
const text = () => Type.String({ maxLength: 1000 });

/** Only same-origin targets (plugins/redirects.ts), so the login form cannot be turned into an open redirect. */
function safeNext(request: FastifyRequest, next: string | undefined): string {
  return redirectTarget(next, request.publicOrigin);
}

export const accountRoutes: FastifyPluginAsyncTypebox<AccountRouteOptions> = async (app, { db, config, auth, viewerOf }) => {
  const registrationOpen = config.registration === 'open';
  const anonymous = { anonymousCsrf: true };

  app.get('/login', async (request, reply) => {
    if (request.user) return reply.redirect('/', 303);
    const next = typeof (request.query as { next?: unknown }).next === 'string' ? (request.query as { next: string }).next : undefined;
    return sendHtml(reply, 200, renderLoginPage(auth.csrfToken(request, reply), { registrationOpen, next }));
  });

  app.post(
    '/login',
    { config: anonymous, schema: { body: Form({ username: text(), password: text(), next: Type.Optional(text()) }) } },
    async (request, reply) => {
      const { username, password, next } = request.body;
      const keys = [
        { key: `user:${username.trim().toLowerCase()}`, limit: LOGIN_FAILURES_PER_ACCOUNT },
        { key: `addr:${request.ip}`, limit: LOGIN_FAILURES_PER_ADDRESS },
      ];
      const wait = await loginThrottle.retryAfter(db, keys, LOGIN_WINDOW_SECONDS);
      const page = (status: number, error: string) =>
        sendHtml(reply, status, renderLoginPage(auth.csrfToken(request, reply), { problem: { error }, username, registrationOpen, next }));
      if (wait > 0) {
        reply.header('retry-after', String(wait));
        return page(429, `Too many failed log-in attempts. Try again in ${Math.ceil(wait / 60)} minute(s).`);
      }
      const user = await usersRepository.findByUsername(db, username.trim());
      const valid = await verifyPassword(user?.passwordHash, password);
      if (!user || !valid || user.isDisabled) {
        if (!valid) await loginThrottle.recordFailure(db, keys.map((entry) => entry.key), LOGIN_WINDOW_SECONDS);
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

  app.get('/signup', async (request, reply) => {
    if (!registrationOpen) throw new HttpError(404, 'Registration is closed');
    return sendHtml(reply, 200, renderSignupPage(auth.csrfToken(request, reply), {}));
  });

  app.post('/signup', { config: anonymous, schema: { body: Form({ username: text(), password: text() }) } }, async (request, reply) => {
    if (!registrationOpen) throw new HttpError(404, 'Registration is closed');
    const username = request.body.username.trim();
    const { password } = request.body;
    const refuse = (field: string, message: string, status = 400) =>
      sendHtml(reply, status, renderSignupPage(auth.csrfToken(request, reply), { username, problem: { error: 'The account was not created', details: [{ field, message }] } }));
    if (!USERNAME.test(username)) return refuse('username', 'must be 1–50 letters, digits, dots, dashes or underscores');
    const problem = await passwordProblem(password, username);
    if (problem) return refuse('password', problem);
    try {
      const user = await usersRepository.create(db, { username, passwordHash: await hashPassword(password) });
      await auth.startSession(request, reply, user.id);
    } catch (error) {
      if (error instanceof UsernameTakenError) return refuse('username', 'is taken', 409);
      throw error;
    }
    return reply.redirect('/', 303);
  });

  // Everything below is for a logged-in person.
  const accountPage = async (request: FastifyRequest, reply: FastifyReply, status: number, extra: Parameters<typeof renderAccountPage>[2] = {}) => {
    const viewer = viewerOf(request, reply);
    if (!viewer || !request.user) return reply.redirect('/login', 303);
    return sendHtml(reply, status, renderAccountPage(viewer, await tokensRepository.listForUser(db, request.user.id), extra));
  };

  app.get('/account', async (request, reply) => {
    const { notice } = request.query as { notice?: string };
    return accountPage(request, reply, 200, notice === 'password' ? { notice: 'Your password was changed; other sessions were logged out.' } : {});
  });

  app.post('/account/password', { schema: { body: Form({ currentPassword: text(), newPassword: text() }) } }, async (request, reply) => {
    const user = request.user && (await usersRepository.findWithPassword(db, request.user.id));
    if (!user) return reply.redirect('/login', 303);
    const fail = (field: string, message: string) => accountPage(request, reply, 400, { problem: { error: 'The password was not changed', details: [{ field, message }] } });
    if (!(await verifyPassword(user.passwordHash, request.body.currentPassword))) return fail('currentPassword', 'is not your current password');
    const problem = await passwordProblem(request.body.newPassword, user.username);
    if (problem) return fail('newPassword', problem);
    await usersRepository.setPassword(db, user.id, await hashPassword(request.body.newPassword));
    await auth.startSession(request, reply, user.id); // every old session ended; this browser stays in
    return reply.redirect('/account?notice=password', 303);
  });

  app.post('/account/delete', { schema: { body: Form({ password: text() }) } }, async (request, reply) => {
    const user = request.user && (await usersRepository.findWithPassword(db, request.user.id));
    if (!user) return reply.redirect('/login', 303);
    if (!(await verifyPassword(user.passwordHash, request.body.password))) {
      return accountPage(request, reply, 400, { problem: { error: 'The account was not deleted', details: [{ field: 'password', message: 'is not your password' }] } });
    }
    await usersRepository.delete(db, user.id);
    await auth.endSession(request, reply);
    return reply.redirect('/login', 303);
  });

  app.post('/account/tokens', { schema: { body: Form({ name: Type.String({ maxLength: 100 }) }) } }, async (request, reply) => {
    if (!request.user) return reply.redirect('/login', 303);
    const value = newSecret();
    const name = request.body.name.trim();
    await tokensRepository.create(db, request.user.id, name, auth.hash(value));
    return accountPage(request, reply, 201, { newToken: { name, value } });
  });

  app.post('/account/tokens/:id/revoke', { schema: { params: Type.Object({ id: Type.String() }) } }, async (request, reply) => {
    if (!request.user) return reply.redirect('/login', 303);
    const id = parseRowId(request.params.id);
    if (id === undefined || !(await tokensRepository.revokeForUser(db, request.user.id, id))) throw new HttpError(404, 'Token not found');
    return reply.redirect('/account', 303);
  });
};
