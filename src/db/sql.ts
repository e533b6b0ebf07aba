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
