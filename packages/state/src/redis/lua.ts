import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const LUA_DIR = join(__dirname, '..', '..', 'lua');

const INCLUDE = /^--#include ([a-z_]+)$/gm;

/**
 * Reads a Lua script shipped in packages/state/lua (loaded once per process), each
 * `--#include <name>` line replaced by lua/lib/<name>.lua: the functions that scripts of
 * both Redis layouts share (publish_limited.lua in one round trip, rate_take.lua and
 * store_message.lua as its two steps in Redis Cluster).
 */
export function luaScript(name: string): string {
  return readFileSync(join(LUA_DIR, `${name}.lua`), 'utf8').replace(INCLUDE, (_line, lib: string) =>
    readFileSync(join(LUA_DIR, 'lib', `${lib}.lua`), 'utf8').trimEnd(),
  );
}

/**
 * SHA1 → name of every script in packages/state/lua. A script goes to Redis as EVALSHA
 * with its SHA1; the Redis metrics name the operation after the script instead.
 */
export function luaScriptNames(): Map<string, string> {
  const names = new Map<string, string>();
  for (const file of readdirSync(LUA_DIR).filter((f) => f.endsWith('.lua'))) {
    const name = file.slice(0, -'.lua'.length);
    names.set(createHash('sha1').update(luaScript(name)).digest('hex'), name);
  }
  return names;
}
