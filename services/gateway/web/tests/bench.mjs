#!/usr/bin/env node
// Frame-time benchmark of the live panel in headless chromium: opens
// bench.html (2,000 calls + a delta stream by default) and prints p50/p99
// frame times. Numbers, not a pass/fail test.
//
//   RINGSIDE_URL=http://127.0.0.1:8089/monitor/ node bench.mjs [--calls 2000 --rate 400 --seconds 10]

import { launch, BASE_URL } from './lib.mjs';

const argv = process.argv.slice(2);
const opt = (n, d) => { const i = argv.indexOf(`--${n}`); return i >= 0 ? argv[i + 1] : d; };
const params = new URLSearchParams({ calls: opt('calls', '2000'), rate: opt('rate', '400'), seconds: opt('seconds', '10') });

const browser = await launch();
try {
  const page = await (await browser.newContext({ viewport: { width: 1440, height: 900 } })).newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  if (argv.includes('--no-anim')) await page.addInitScript(() => document.addEventListener('DOMContentLoaded', () => { const s = document.createElement('style'); s.textContent = '*{animation:none!important;transition:none!important}'; document.head.append(s); }));
  await page.goto(`${BASE_URL}bench.html?${params}`);
  await page.waitForSelector('body[data-bench-done="1"]', { timeout: (Number(params.get('seconds')) + 60) * 1000 });
  const r = JSON.parse(await page.locator('#bench-result').textContent());
  console.log(`live panel, ${r.calls} calls, ${r.deltas_per_s} deltas/s over ${params.get('seconds')} s (${r.frames} frames):`);
  console.log(`  initial render      ${r.initial_render_ms} ms`);
  console.log(`  frame time p50      ${r.frame_ms_p50} ms`);
  console.log(`  frame time p95      ${r.frame_ms_p95} ms`);
  console.log(`  frame time p99      ${r.frame_ms_p99} ms`);
  console.log(`  frame time max      ${r.frame_ms_max} ms`);
  console.log(`  frames over 50 ms   ${r.frames_over_50ms}`);
  if (errors.length) { console.error('page errors:', errors); process.exitCode = 1; }
} finally {
  await browser.close();
}
