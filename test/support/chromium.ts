// Debian's Chromium driven by playwright-core (never a downloaded browser).
// The flags keep it from reaching for the network, which is closed here.
import { after, before } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { startTestApp, type TestApp } from './app.ts';

export const CHROMIUM_PATH = '/usr/bin/chromium';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
      '--no-first-run',
    ],
  });
}

/**
 * For the enclosing describe: the app on a fresh embedded database and a
 * Chromium, started before its tests and stopped after them.
 */
export function withAppInChromium(): { t: TestApp; browser: Browser } {
  const state = {} as { t: TestApp; browser: Browser };
  before(async () => {
    state.t = await startTestApp('pglite');
    state.browser = await launchChromium();
  });
  after(async () => {
    await state.browser?.close();
    await state.t?.close();
  });
  return state;
}
