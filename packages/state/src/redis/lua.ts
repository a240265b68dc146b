import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Reads a Lua script shipped in packages/state/lua (loaded once per process). */
export function luaScript(name: string): string {
  return readFileSync(join(__dirname, '..', '..', 'lua', `${name}.lua`), 'utf8');
}

/**
 * A script loaded behind the files that define its local functions (sliding_window.lua,
 * violation.lua): one definition of each rule, shared by the scripts that apply it.
 */
export function luaScriptWith(name: string, ...functions: string[]): string {
  return [...functions.map(luaScript), luaScript(name)].join('\n');
}
