#!/usr/bin/env node
// Development loop: start mock-server.mjs on a free port under /monitor/,
// run the unit tests, the browser tests (RINGSIDE_MOCK=1: mock fixtures) and the
// frame-time benchmark against it, then stop the mock. CI runs e2e/ against
// the real monolithic binary instead (see ../README.md).

import { spawn } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));

const freePort = () => new Promise((resolve, reject) => {
  const s = net.createServer();
  s.once('error', reject);
  s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
});

function run(cmd, args, env) {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { cwd: HERE, env: { ...process.env, ...env }, stdio: 'inherit' });
    p.on('exit', (code) => resolve(code ?? 1));
  });
}

const port = await freePort();
const url = `http://127.0.0.1:${port}/monitor/`;
const mock = spawn(process.execPath, ['mock-server.mjs', '--port', String(port), '--base', '/monitor/'], { cwd: HERE, stdio: ['ignore', 'pipe', 'inherit'] });
await new Promise((resolve, reject) => {
  mock.stdout.on('data', (d) => { if (String(d).includes('mock server on')) resolve(); });
  mock.on('exit', (c) => reject(new Error(`mock server exited (${c})`)));
});

const env = {
  RINGSIDE_URL: url,
  RINGSIDE_MOCK: '1',
  RINGSIDE_ADMIN_USER: process.env.RINGSIDE_ADMIN_USER || 'admin',
  RINGSIDE_ADMIN_PASSWORD: process.env.RINGSIDE_ADMIN_PASSWORD || 'admin-password',
  SCREENSHOT_DIR: process.env.SCREENSHOT_DIR || path.join(os.tmpdir(), 'ringside-screenshots')
};
let failed = 0;
try {
  failed += await run(process.execPath, ['--test', 'unit/'], env) ? 1 : 0;
  failed += await run(process.execPath, ['--test', '--test-concurrency=1', 'e2e/'], env) ? 1 : 0;
  if (!process.argv.includes('--no-bench')) failed += await run(process.execPath, ['bench.mjs'], env) ? 1 : 0;
} finally {
  mock.kill('SIGTERM');
}
process.exitCode = failed ? 1 : 0;
