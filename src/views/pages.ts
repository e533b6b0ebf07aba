// Server-rendered pages. Until the web UI lands this is the plain list and
// add form: real HTML, escaped, usable without JavaScript.
import type { FieldError } from '../plugins/validation.ts';
import { assetUrl, optionalAssetUrl } from './assets.ts';
import { html, type SafeHtml } from './html.ts';

/** Who is looking at the page: drives the header and the CSRF token of every form. */
export interface Viewer {
  username: string;
  isAdmin: boolean;
  csrfToken: string;
}

export function csrfField(csrfToken: string): SafeHtml {
  return html`<input type="hidden" name="_csrf" value="${csrfToken}">`;
}

function header(viewer: Viewer | undefined): SafeHtml {
  if (!viewer) return html``;
  return html`<header class="site">
<nav aria-label="Account"><a href="/">Todos</a> <a href="/account">Account (${viewer.username})</a>${viewer.isAdmin ? html` <a href="/admin">Admin</a>` : ''}
<form method="post" action="/logout" class="inline">${csrfField(viewer.csrfToken)}<button type="submit">Log out</button></form></nav>
</header>`;
}

/** The progressive-enhancement bundle, when it has been built. */
function scriptTag(): SafeHtml {
  const url = optionalAssetUrl('app.js');
  return url ? html`<script type="module" src="${url}"></script>` : html``;
}

export function layout(title: string, body: SafeHtml, viewer?: Viewer): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<link rel="stylesheet" href="${assetUrl('app.css')}">
${scriptTag()}
${viewer ? html`<meta name="csrf-token" content="${viewer.csrfToken}">` : ''}
</head>
<body>
${header(viewer)}
<main>
${body}
</main>
</body>
</html>`.value;
}

export function errorList(details: FieldError[] | undefined): SafeHtml {
  if (!details || details.length === 0) return html``;
  return html`<ul>${details.map((detail) => html`<li>${detail.field}: ${detail.message}</li>`)}</ul>`;
}

export interface Problem {
  error: string;
  details?: FieldError[];
}

export function problemBox(problem: Problem | undefined): SafeHtml {
  return problem
    ? html`<div class="error" role="alert"><p>${problem.error}</p>${errorList(problem.details)}</div>`
    : html``;
}

export function renderErrorPage(status: number, message: string, details?: FieldError[], debugText?: string): string {
  return layout(
    `${status} ${message}`,
    html`<h1>${message}</h1>
<div class="error" role="alert"><p>Error ${status}.</p>${errorList(details)}</div>
${debugText ? html`<pre>${debugText}</pre>` : ''}
<p><a href="/">Back to the list</a></p>`,
  );
}
