import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface Tool {
  command: string;
  /** The Debian package that installs it. */
  pkg: string;
}

export const REQUIRED_TOOLS: readonly Tool[] = Object.freeze([
  { command: 'redis-server', pkg: 'redis-server' },
  { command: 'nginx', pkg: 'nginx' },
  { command: 'openssl', pkg: 'openssl' },
]);

/** Debian installs nginx in /usr/sbin, which an ordinary user's PATH does not hold. */
export const SBIN_DIRS: readonly string[] = Object.freeze(['/usr/local/sbin', '/usr/sbin', '/sbin']);

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

export interface ToolLookup {
  /** command -> absolute path of what will be run. */
  found: Map<string, string>;
  missing: Tool[];
}

export function locateTools(
  path: string | undefined,
  tools: readonly Tool[] = REQUIRED_TOOLS,
  extraDirs: readonly string[] = SBIN_DIRS,
): ToolLookup {
  const dirs = [...(path ?? '').split(delimiter).filter((d) => d !== ''), ...extraDirs];
  const found = new Map<string, string>();
  const missing: Tool[] = [];
  for (const tool of tools) {
    const hit = dirs.map((d) => join(d, tool.command)).find(executable);
    if (hit === undefined) missing.push(tool);
    else found.set(tool.command, hit);
  }
  return { found, missing };
}

export function installCommand(missing: readonly Tool[]): string {
  return `apt-get update && apt-get install -y --no-install-recommends ${missing.map((t) => t.pkg).join(' ')}`;
}

/** What to print when tools are missing: their names and the one command that installs them. */
export function missingToolsMessage(missing: readonly Tool[], isRoot: boolean): string {
  const command = installCommand(missing);
  return (
    `npm run cluster needs ${REQUIRED_TOOLS.map((t) => t.command).join(', ')}; ` +
    `missing: ${missing.map((t) => t.command).join(', ')}. Install with:\n` +
    `  ${isRoot ? command : `sudo sh -c '${command}'`}\n`
  );
}
