import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { ROOT } from './processes';

/** Debian's Chromium (scripts/ensure-deps.js installs it); playwright-core downloads no browser. */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * Headless, and nothing that reaches out on its own: no QUIC, no first-run UI, no
 * background networking, component updates or sync. Playwright gives every launch a
 * fresh temporary profile (its own --user-data-dir), removed when the browser closes.
 */
export const CHROMIUM_FLAGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Screenshots the browser tests keep (git-ignored): test/artifacts/<suite>/<name>.png. */
export const ARTIFACTS = join(ROOT, 'test', 'artifacts');

export function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (npm test installs it as root)`);
  }
  return chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_FLAGS], headless: true });
}

/**
 * What a page did that a test must see: console errors, uncaught exceptions and CSP
 * violations (Chromium reports those on the console).
 */
export interface PageProblems {
  errors: string[];
  cspViolations: string[];
}

export function watchProblems(page: Page, name: string): PageProblems {
  const problems: PageProblems = { errors: [], cspViolations: [] };
  page.on('console', (message) => {
    const text = message.text();
    if (/Content[- ]Security[- ]Policy/i.test(text)) problems.cspViolations.push(`${name}: ${text}`);
    // A refused request shows as a console error with its status (a 401 from a refresh
    // the page expects to fail, say), and Chromium logs every WebSocket attempt that fails
    // (a reconnect while a node is down): the tests assert on what the page shows instead.
    else if (
      message.type() === 'error' &&
      !/Failed to load resource|^WebSocket connection to .* failed/.test(text)
    ) {
      problems.errors.push(`${name}: ${text}`);
    }
  });
  page.on('pageerror', (err) => problems.errors.push(`${name}: uncaught ${err.message}`));
  return problems;
}

/** Saves a screenshot of `page` as test/artifacts/<suite>/<name>.png; returns its path. */
export async function screenshot(page: Page, suite: string, name: string): Promise<string> {
  const dir = join(ARTIFACTS, suite);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.png`);
  // Transitions (the drawer sliding in) are fast-forwarded to where they end.
  await page.screenshot({ path, fullPage: false, animations: 'disabled' });
  return path;
}

/** A fresh, isolated browser profile (its own cookies and storage): one person. */
export function newPerson(
  browser: Browser,
  options: { width?: number; height?: number; https?: boolean } = {},
): Promise<BrowserContext> {
  return browser.newContext({
    viewport: { width: options.width ?? 1280, height: options.height ?? 800 },
    // The test deployments use a self-signed certificate; the origin stays https (secure).
    ignoreHTTPSErrors: options.https ?? false,
    deviceScaleFactor: 1,
    locale: 'en-US',
    timezoneId: 'UTC',
  });
}
