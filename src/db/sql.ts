// Small helpers shared by the repositories and the routes that feed them.

/** Makes `%`, `_` and `\` literal in a LIKE/ILIKE pattern. */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (character) => `\\${character}`);
}

/** Row ids are positive integers that fit PostgreSQL's integer; anything else names no row. */
export function parseRowId(raw: string): number | undefined {
  if (!/^[1-9]\d{0,9}$/.test(raw)) return undefined;
  const id = Number(raw);
  return id <= 2_147_483_647 ? id : undefined;
}

/**
 * A timestamptz selected as text (`created_at::text`) written as JavaScript's
 * toISOString() writes it: '2026-11-24 20:58:08.17+00' → '2026-11-24T20:58:08.170Z'.
 * Selecting text and rewriting it is some ten times cheaper than parsing a
 * Date and formatting it again, which for a list of 100 todos was a third of
 * the request. Sessions in UTC (PGlite's, and most servers') take the fast
 * path; any other offset goes through Date.
 */
export function isoTimestamp(text: string): string {
  const length = text.length;
  // 'YYYY-MM-DD HH:MM:SS+00', optionally with a fraction before the offset.
  if (length >= 22 && text.charCodeAt(4) === 45 && text.charCodeAt(10) === 32 && text.endsWith('+00')) {
    const fraction =
      length > 22
        ? text
            .slice(20, length - 3)
            .padEnd(3, '0')
            .slice(0, 3)
        : '000';
    return `${text.slice(0, 10)}T${text.slice(11, 19)}.${fraction}Z`;
  }
  return new Date(text).toISOString();
}

/** One parameterised statement, made by a repository and run by someone else (e.g. inside a larger statement). */
export interface Statement {
  text: string;
  params: unknown[];
}
