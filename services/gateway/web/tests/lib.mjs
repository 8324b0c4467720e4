// Shared helpers for the browser tests and the benchmark: launch Debian's
// chromium through playwright-core, sign in, collect page errors and CSP
// violations (a test fails on any), save screenshots.

import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

export const BASE_URL = (process.env.RINGSIDE_URL || 'http://127.0.0.1:8089/monitor/').replace(/\/?$/, '/');
export const ADMIN_USER = process.env.RINGSIDE_ADMIN_USER || 'admin';
export const ADMIN_PASSWORD = process.env.RINGSIDE_ADMIN_PASSWORD || 'admin-password';
export const SCREENSHOT_DIR = process.env.SCREENSHOT_DIR || '';
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

export async function launch() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--headless', '--no-sandbox'] });
}

/** A page that records console errors, uncaught exceptions and CSP violations. */
export async function newPage(browser, { viewport = { width: 1440, height: 900 }, colorScheme = 'light', locale = 'en-US' } = {}) {
  const context = await browser.newContext({ viewport, colorScheme, locale, acceptDownloads: true });
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource: the server responded with a status of (401|404|409|422)/.test(m.text())) page.problems.push(`console: ${m.text()}`);
  });
  return page;
}

export async function login(page, user = ADMIN_USER, password = ADMIN_PASSWORD, hash = '#/live') {
  await page.goto(`${BASE_URL}${hash}`);
  await page.locator('#login-user').fill(user);
  await page.locator('#login-pass').fill(password);
  await page.locator('#login-submit').click();
  await page.locator('#topbar:not([hidden]), .page-embed').first().waitFor({ timeout: 15000 });
}

export async function shot(page, name) {
  if (!SCREENSHOT_DIR) return null;
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: false });
  return file;
}

export function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}
