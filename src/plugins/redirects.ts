// Redirect targets that come from user input (log-in's `next`, the list
// forms' `returnTo`). A browser resolves Location as a WHATWG URL: it drops
// tabs and newlines, takes `\` for `/`, and reads `//host` as another site.
// So the target is resolved here the same way, against our own origin, and
// kept only when it stays there; what goes out is the resolved path and
// query, which cannot mean anything else to a browser and is plain ASCII (a
// Location Node refuses, such as one with a control character, would be a 500
// after the write it follows had been committed).

/** Longer than any of our own URLs; beyond it, a target is not one of ours. */
const MAX_TARGET_LENGTH = 2000;

/**
 * `target` as a same-origin path and query, or `fallback` when it is missing,
 * holds a control character or a backslash, is not a path ("/…") or an
 * absolute URL, or resolves to another origin.
 */
export function redirectTarget(target: string | undefined, origin: string, fallback = '/'): string {
  if (target === undefined || target.length > MAX_TARGET_LENGTH) return fallback;
  // Browsers strip or reinterpret these; a target with one is not ours to guess at.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(target)) return fallback;
  if (!target.startsWith('/') && !/^https?:\/\//i.test(target)) return fallback;
  let url: URL;
  let base: URL;
  try {
    base = new URL(origin); // normalised as the target's will be (":80" on http dropped, say)
    url = new URL(target, base);
  } catch {
    return fallback;
  }
  if (url.origin !== base.origin || url.username !== '' || url.password !== '') return fallback;
  // "/.//evil.example" resolves to the path "//evil.example", which a browser reads as another host.
  if (url.pathname.startsWith('//')) return fallback;
  return url.pathname + url.search;
}
