/** `source` without its undefined properties: optional fields left unset, dropped rather than written as absent-but-present. */
export function withoutUndefined<T extends object>(source: T): T {
  const copy = { ...source } as Record<string, unknown>;
  for (const [key, content] of Object.entries(copy)) if (content === undefined) delete copy[key];
  return copy as T;
}
