#!/usr/bin/env node
/** `npm run render:nginx`: writes deploy/nginx/nginx.conf, the compose variant of the template. */
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { COMPOSE, composeNginxSettings, composeNodes, RENDERED_HEADER } from './compose';
import { readNginxTemplate, renderNginxConfig } from './nginx-config';

export function renderComposeNginx(repoRoot: string): string {
  const settings = composeNginxSettings(composeNodes());
  return RENDERED_HEADER + renderNginxConfig(readNginxTemplate(repoRoot), settings);
}

if (require.main === module) {
  const repoRoot = resolve(__dirname, '..', '..', '..');
  const target = join(repoRoot, COMPOSE.renderedNginxConfig);
  writeFileSync(target, renderComposeNginx(repoRoot));
  process.stdout.write(`wrote ${target}\n`);
}
