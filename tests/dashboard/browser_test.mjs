// The dashboard in a real browser: headless chromium (Debian's `chromium`) driven by playwright-core,
// against a real `wavebot sandbox --serve` (simulator + wavebot + demo agent on loopback).
//
//   node browser_test.mjs --wavebot PATH --fixture PATH --demo-agent PATH [--screenshot PNG]
//   (WAVEBOT_KEEP_TMP=1 keeps the temporary directory of a failed run: the sandbox log, database, agent logs)
//
// Checks: the epic page shows the waves; a ticket changes state while the page is watched (no reload);
// the running ticket's log streams (Server-Sent Events); an action needs the admin token; issue text
// full of HTML and script renders inert. Fails (never skips) when chromium or node_modules is missing.
// Waits only on conditions, each with a deadline.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = path.resolve(process.argv[i + 1]);
const started = Date.now();
const log = (...m) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s]`, ...m);

function fail(message) {
  console.error(`dashboard_browser: FAILED: ${message}`);
  process.exitCode = 1;
  throw new Error(message);
}

const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const playwrightEntry = path.join(here, 'node_modules', 'playwright-core', 'index.mjs');
for (const [what, p] of [['--wavebot', args.wavebot], ['--fixture', args.fixture], ['--demo-agent', args['demo-agent']]]) {
  if (!p || !fs.existsSync(p)) fail(`${what} ${p ?? '(missing)'} does not exist`);
}
if (!fs.existsSync(chromiumPath)) fail(`no chromium at ${chromiumPath}: install Debian's chromium (scripts/setup.sh) or set CHROMIUM`);
if (!fs.existsSync(playwrightEntry)) fail(`no ${playwrightEntry}: run 'npm ci' in tests/dashboard (scripts/test.sh does)`);
const { chromium } = await import(pathToFileURL(playwrightEntry).href);

// Polls `probe` until it returns a truthy value or `ms` pass.
async function until(what, probe, ms = 30000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) fail(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wavebot-dashboard-browser-'));
const token = 'browser-test-admin-token-' + process.pid;
const gate = path.join(tmp, 'gate.fifo');
execFileSync('mkfifo', [gate]);
// The agent: ticket #2's first run says so, then waits (at most 60 s) until the test opens the gate by
// writing to the FIFO, then does the demo agent's work. Every other run is the demo agent's.
const agent = path.join(tmp, 'gated-agent.sh');
fs.writeFileSync(agent, `#!/usr/bin/env bash
if [ "$WAVEBOT_TICKET" = 2 ] && [ "$WAVEBOT_MODE" = implement ] && [ "$WAVEBOT_ATTEMPT" = 1 ]; then
  echo "gated-agent: ticket 2 waits for the browser test"
  timeout 60 bash -c 'read -r line < "$0"' '${gate}' || echo "gated-agent: nobody opened the gate"
  echo "gated-agent: the gate opened"
fi
exec '${args['demo-agent']}' "$@"
`, { mode: 0o755 });

const readyFile = path.join(tmp, 'ready.json');
const sandboxLog = path.join(tmp, 'sandbox.log');
const out = fs.openSync(sandboxLog, 'w');
const sandbox = spawn(args.wavebot, ['sandbox', '--serve', '--data-dir', path.join(tmp, 'sandbox'), '--ready-file', readyFile,
  '--agent', agent, '--timeout', '110', '--max-parallel', '3'],
  // The agent runs contained (docs/security.md): it may read its own directory (the gate) and, as the
  // operator allows here, the demo agent's.
  { env: { ...process.env, WAVEBOT_ADMIN_TOKEN: token, WAVEBOT_AGENT_READ_ONLY: path.dirname(args['demo-agent']) },
    stdio: ['ignore', out, out], detached: true });
let sandboxExit = null;
sandbox.on('exit', (code, signal) => { sandboxExit = { code, signal }; });

let browser;
const problems = [];
try {
  const ready = await until('the sandbox ready file', () => {
    if (sandboxExit) fail(`wavebot sandbox exited early (${JSON.stringify(sandboxExit)}); its output:\n${fs.readFileSync(sandboxLog, 'utf8')}`);
    return fs.existsSync(readyFile) && JSON.parse(fs.readFileSync(readyFile, 'utf8'));
  });
  const base = ready.dashboard.replace(/\/$/, '');
  log('sandbox ready, dashboard at', base);

  browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox', '--disable-gpu'] });
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  context.on('page', (p) => {
    p.on('pageerror', (e) => problems.push(`page error on ${p.url()}: ${e.message}`));
    p.on('dialog', (d) => { problems.push(`dialog on ${p.url()}: ${d.message()}`); d.dismiss(); });
    // The served pages allow only scripts carrying the response's nonce: one of ours being refused
    // would break the page, so a CSP report on a served page is a failure.
    p.on('console', (m) => {
      if (p.url().startsWith('http') && /Content Security Policy/i.test(m.text())) problems.push(`CSP refused something on ${p.url()}: ${m.text()}`);
    });
  });

  // 1. Issue text full of HTML and script renders inert (pages rendered from such records).
  const fixtures = path.join(tmp, 'fixtures');
  fs.mkdirSync(fixtures);
  execFileSync(args.fixture, [fixtures]);
  const evil = await context.newPage();
  for (const name of ['index', 'epic', 'ticket', 'error']) {
    await evil.goto(pathToFileURL(path.join(fixtures, `${name}.html`)).href);
    const pwned = await evil.evaluate(() => window.__pwned);
    if (pwned !== undefined) fail(`injected script ran on the ${name} page (window.__pwned = ${pwned})`);
    const text = await evil.textContent('body');
    if (!text.includes('<script>window.__pwned=1</script>')) fail(`the ${name} page does not show the script as text`);
    if (await evil.locator('main img, main iframe, main a[href^="javascript:"]').count()) fail(`the ${name} page holds injected elements`);
  }
  await evil.close();
  log('injected HTML and script render inert');

  // 2. The epic list, then the epic page with its waves.
  const page = await context.newPage();
  await page.goto(base + '/');
  await until('the epic on the list', async () => {
    if (await page.locator('#epics a', { hasText: '#1' }).count()) return true;
    await page.reload();
    return false;
  });
  await page.locator('#epics a', { hasText: '#1' }).first().click();
  await until('the planned epic (8 tickets)', async () => {
    if (await page.locator('#graph g.node').count() === 8) return true;
    await page.reload();
    return false;
  });
  // Waves are replanned as tickets merge, so check the layout, not fixed numbers: at least two wave
  // columns, and every ticket in the column labelled with its wave.
  const layout = await page.evaluate(() => {
    const columns = {};
    document.querySelectorAll('#graph text.wave').forEach((t) => {
      const m = t.textContent.match(/^Wave (\d+)$/);
      columns[m ? m[1] : '0'] = Number(t.getAttribute('x'));
    });
    const misplaced = [];
    document.querySelectorAll('#graph g.node').forEach((g) => {
      const x = Number(g.querySelector('rect').getAttribute('x'));
      if (columns[g.dataset.wave] !== x) misplaced.push(g.dataset.number);
    });
    return { waves: Object.keys(columns).filter((w) => w !== '0').length, misplaced };
  });
  if (layout.waves < 2) fail(`the graph shows ${layout.waves} wave(s), want at least 2`);
  if (layout.misplaced.length) fail(`tickets outside their wave's column: ${layout.misplaced.join(', ')}`);
  if (await page.locator('#tickets tbody tr').count() !== 8) fail('the ticket table should list 8 tickets');
  if (await page.locator('#graph path.edge').count() < 1) fail('the graph has no dependency edges');
  log(`epic page shows ${layout.waves} waves and 8 tickets, each in its wave's column`);

  // 3. Ticket #2 runs (and waits at the gate): the open page shows it without a reload.
  await page.waitForSelector('#tickets tr[data-number="2"][data-state="running"]', { timeout: 60000 });
  await page.waitForSelector('#graph g.node[data-number="2"].st-running', { timeout: 5000 });
  log('ticket #2 is running');

  // 4. Actions need the token (while #2 waits at the gate the epic cannot finish).
  const epicId = (await page.url()).match(/\/epics\/(\d+)/)[1];
  const pauseUrl = `${base}/api/epics/${epicId}/pause`;
  const noToken = await page.request.post(pauseUrl, { data: '' });
  if (noToken.status() !== 401) fail(`pause without a token answered ${noToken.status()}, want 401`);
  const formPost = await page.request.post(pauseUrl, { form: { token } });
  if (formPost.status() !== 401) fail(`a form POST without the header answered ${formPost.status()}, want 401`);
  const wrong = await page.request.post(pauseUrl, { data: '', headers: { Authorization: 'Bearer wrong-' + token } });
  if (wrong.status() !== 403) fail(`pause with a wrong token answered ${wrong.status()}, want 403`);
  if (await page.textContent('#epic-state') !== 'running') fail('the refused actions changed the epic');
  await page.fill('#admin-token', token);
  await page.click('#pause');
  await page.waitForFunction(() => document.getElementById('action-result').textContent.startsWith('200'), null, { timeout: 30000 });
  await page.waitForFunction(() => document.getElementById('epic-state').textContent === 'paused', null, { timeout: 15000 });
  await page.click('#resume');
  await page.waitForFunction(() => document.getElementById('epic-state').textContent === 'running', null, { timeout: 30000 });
  log('pause and resume with the token work; without it they are refused');

  // 5. Its log streams into the ticket page.
  const ticketHref = await page.locator('#tickets tr[data-number="2"] a').first().getAttribute('href');
  const ticketPage = await context.newPage();
  await ticketPage.goto(base + ticketHref);
  await ticketPage.waitForSelector('body[data-live="1"]', { timeout: 15000 });
  await ticketPage.waitForFunction(() => document.getElementById('log').textContent.includes('ticket 2 waits for the browser test'), null, { timeout: 20000 });
  if ((await ticketPage.textContent('#log')).includes('the gate opened')) fail('the gate opened by itself');
  // The agent reads the FIFO and carries on. Non-blocking: opening fails (ENXIO) until it is reading.
  await until('the agent to wait at the gate', () => {
    try {
      const fd = fs.openSync(gate, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
      fs.writeSync(fd, 'open\n');
      fs.closeSync(fd);
      return true;
    } catch (e) {
      if (e.code === 'ENXIO') return false;
      throw e;
    }
  }, 20000);
  await ticketPage.waitForFunction(() => document.getElementById('log').textContent.includes('gated-agent: the gate opened'), null, { timeout: 20000 }).catch(async (e) => { console.error('the ticket page shows log=', JSON.stringify(await ticketPage.textContent('#log')), 'status=', await ticketPage.textContent('#log-status'), 'state=', await ticketPage.textContent('#ticket-state')); throw e; });
  log('the log streamed a line written after the page was opened');

  // 6. The watched epic page shows #2 leave "running" without a reload.
  const marker = await page.evaluate(() => { window.__sameDocument = true; return true; });
  await page.waitForSelector('#tickets tr[data-number="2"]:not([data-state="running"])', { timeout: 60000 });
  if (!marker || !(await page.evaluate(() => window.__sameDocument === true))) fail('the epic page was reloaded');
  const newState = await page.getAttribute('#tickets tr[data-number="2"]', 'data-state');
  await page.waitForSelector(`#graph g.node[data-number="2"].st-${newState}`, { timeout: 5000 });
  log(`ticket #2 changed state while watched: running -> ${newState}`);
  await ticketPage.waitForFunction(() => document.getElementById('ticket-state').textContent !== 'running', null, { timeout: 30000 });
  await ticketPage.close();

  if (args.screenshot) {
    await page.reload();  // the timeline of runs is as of the page load
    await page.waitForSelector('#timeline', { timeout: 10000 });
    await page.screenshot({ path: args.screenshot, fullPage: true });
    log('screenshot written to', args.screenshot);
  }

  // 7. The read-only view works without JavaScript.
  const noJs = await browser.newContext({ javaScriptEnabled: false });
  const plain = await noJs.newPage();
  await plain.goto(`${base}/epics/${epicId}`);
  if (await plain.locator('#graph g.node').count() !== 8) fail('without JavaScript the graph is missing');
  if (await plain.locator('#tickets tbody tr').count() !== 8) fail('without JavaScript the table is missing');
  await noJs.close();

  if (problems.length) fail(problems.join('\n'));
  log('PASSED');
} catch (e) {
  process.exitCode = 1;
  if (!String(e.message).startsWith('dashboard_browser')) console.error(e);
  try { console.error('--- sandbox output (tail) ---\n' + fs.readFileSync(sandboxLog, 'utf8').slice(-4000)); } catch {}
} finally {
  if (browser) await browser.close().catch(() => {});
  if (!sandboxExit) {
    try { process.kill(-sandbox.pid, 'SIGTERM'); } catch {}  // its process group (it was started detached)
    const stopped = await Promise.race([new Promise((r) => sandbox.once('exit', () => r(true))),
      new Promise((r) => setTimeout(() => r(false), 20000).unref())]);
    if (!stopped) { try { process.kill(-sandbox.pid, 'SIGKILL'); } catch {} }
  }
  if (process.exitCode && process.env.WAVEBOT_KEEP_TMP) console.error(`kept ${tmp}`); else fs.rmSync(tmp, { recursive: true, force: true });
}
