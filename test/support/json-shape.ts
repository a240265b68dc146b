/** Narrowing of parsed JSON or YAML (`unknown`) for tests: a wrong shape fails with what it was. */
export type Json = Record<string, unknown>;

export function object(value: unknown, what: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new Error(`${what} is not a mapping: ${String(JSON.stringify(value)).slice(0, 300)}`);
  return value as Json;
}
