import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Reads a Lua script shipped in packages/state/lua (loaded once per process). */
export function luaScript(name: string): string {
  return readFileSync(join(__dirname, '..', '..', 'lua', `${name}.lua`), 'utf8');
}
