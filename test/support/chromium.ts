import { chromium, type Browser } from 'playwright-core';

/** Debian's Chromium (scripts/ensure-deps.js installs it); npm cannot download browsers here. */
export const CHROMIUM = '/usr/bin/chromium';

/** The flags every test browser runs with: headless, no sandbox (root in CI), nothing phoning home. */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Starts a headless Chromium for a suite; close it in `after`. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
}
