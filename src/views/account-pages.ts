// Sign up, log in and the account page (password, API tokens, deletion).
import type { ApiToken } from '../features/accounts/repository.ts';
import { html } from './html.ts';
import { csrfField, layout, problemBox, type Problem, type Viewer } from './pages.ts';

export function renderLoginPage(
  csrfToken: string,
  options: { problem?: Problem; username?: string; registrationOpen: boolean; next?: string },
): string {
  return layout(
    'Log in',
    html`<h1>Log in</h1>
${problemBox(options.problem)}
<form method="post" action="/login" class="stacked">
  ${csrfField(csrfToken)}
  ${options.next ? html`<input type="hidden" name="next" value="${options.next}">` : ''}
  <label>Username <input name="username" autocomplete="username" required value="${options.username ?? ''}" autofocus></label>
  <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
  <button type="submit">Log in</button>
</form>
${options.registrationOpen ? html`<p>No account yet? <a href="/signup">Sign up</a></p>` : ''}`,
  );
}

/** `setup`: no admin exists yet, so the form asks for the setup code the server printed. */
export function renderSignupPage(
  csrfToken: string,
  options: { problem?: Problem; username?: string; setup?: boolean },
): string {
  return layout(
    'Sign up',
    html`<h1>Sign up</h1>
${problemBox(options.problem)}
<form method="post" action="/signup" class="stacked">
  ${csrfField(csrfToken)}
  <label>Username <input name="username" autocomplete="username" required maxlength="50" pattern="[A-Za-z0-9_.\\-]+" value="${options.username ?? ''}" autofocus aria-describedby="username-help"></label>
  <p id="username-help" class="help">Letters, digits, dots, dashes and underscores.</p>
  <label>Password <input name="password" type="password" autocomplete="new-password" required minlength="8" aria-describedby="password-help"></label>
  <p id="password-help" class="help">At least 8 characters; common passwords are refused.</p>
  ${
    options.setup
      ? html`<label>Setup code <input name="setupCode" autocomplete="off" spellcheck="false" maxlength="100" aria-describedby="setup-code-help"></label>
  <p id="setup-code-help" class="help">No admin exists yet. The code the server printed in its terminal (or log) when it started makes this account the admin; without it the account is an ordinary one.</p>`
      : ''
  }
  <button type="submit">Create account</button>
</form>
<p>Have an account? <a href="/login">Log in</a></p>`,
  );
}

export function renderAccountPage(
  viewer: Viewer,
  tokens: ApiToken[],
  options: { problem?: Problem; notice?: string; newToken?: { name: string; value: string } } = {},
): string {
  const csrf = csrfField(viewer.csrfToken);
  return layout(
    'Account',
    html`<h1>Account: ${viewer.username}</h1>
${problemBox(options.problem)}
${options.notice ? html`<p role="status" class="notice">${options.notice}</p>` : ''}
<section aria-labelledby="password-heading">
<h2 id="password-heading">Change password</h2>
<form method="post" action="/account/password" class="stacked">
  ${csrf}
  <label>Current password <input name="currentPassword" type="password" autocomplete="current-password" required></label>
  <label>New password <input name="newPassword" type="password" autocomplete="new-password" required minlength="8"></label>
  <button type="submit">Change password</button>
</form>
</section>
<section aria-labelledby="tokens-heading">
<h2 id="tokens-heading">API tokens</h2>
${options.newToken ? html`<div role="status" class="notice"><p>New token "${options.newToken.name}" — copy it now, it is not shown again:</p><p><code>${options.newToken.value}</code></p></div>` : ''}
${
  tokens.length === 0
    ? html`<p>No tokens.</p>`
    : html`<ul class="tokens">${tokens.map(
        (
          token,
        ) => html`<li>${token.name || '(unnamed)'} — created ${token.createdAt.toISOString().slice(0, 10)}${token.lastUsedAt ? html`, last used ${token.lastUsedAt.toISOString().slice(0, 10)}` : ''}
<form method="post" action="/account/tokens/${token.id}/revoke" class="inline">${csrf}<button type="submit" aria-label="Revoke token ${token.name || token.id}">Revoke</button></form></li>`,
      )}</ul>`
}
<form method="post" action="/account/tokens" class="stacked">
  ${csrf}
  <label>Token name <input name="name" maxlength="100"></label>
  <button type="submit">Create token</button>
</form>
</section>
<section aria-labelledby="delete-heading">
<h2 id="delete-heading">Delete account</h2>
<p>Deletes your account and all your todos. This cannot be undone.</p>
<form method="post" action="/account/delete" class="stacked">
  ${csrf}
  <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
  <button type="submit" class="danger">Delete my account</button>
</form>
</section>`,
    viewer,
  );
}
