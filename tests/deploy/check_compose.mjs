// ctest deploy_compose: docker/compose.yaml passes dclint (the compose-spec schema and its rules,
// pinned in package.json) and agrees with docker/Dockerfile and with the settings wavebot reads:
// the data volume, port, health check, environment names and secrets.
// Usage: node check_compose.mjs REPO_ROOT
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { parseDockerfile } from './dockerfile.mjs';

const root = process.argv[2];
assert.ok(root, 'usage: node check_compose.mjs REPO_ROOT');
const here = path.dirname(fileURLToPath(import.meta.url));
const dclint = path.join(here, 'node_modules/.bin/dclint');
const require = createRequire(import.meta.url);
if (!fs.existsSync(dclint)) {
  console.error(`${dclint} is missing: run npm ci in tests/deploy (scripts/test.sh does)`);
  process.exit(1);
}
const YAML = require('yaml');
const file = path.join(root, 'docker/compose.yaml');
const text = fs.readFileSync(file, 'utf8');
const compose = YAML.parse(text);
const svc = compose.services.wavebot;
const { stages } = parseDockerfile(fs.readFileSync(path.join(root, 'docker/Dockerfile'), 'utf8'));
const runtime = stages[stages.length - 1];
const inst = (kw) => runtime.instructions.filter((i) => i.keyword === kw);
const env = {};
for (const i of inst('ENV')) for (const m of i.args.matchAll(/(\w+)=(\S+)/g)) env[m[1]] = m[2];

let failed = 0;
let passed = 0;
function check(name, fn) {
  try {
    fn();
    passed++;
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}\n${e.message}`);
  }
}
const lint = (f) => spawnSync(dclint, [f, '--max-warnings', '0', '--color', 'false'], { encoding: 'utf8' });

check('dclint finds nothing (schema and rules, warnings count)', () => {
  const r = lint(file);
  assert.equal(r.status, 0, r.stdout + r.stderr);
});
check('dclint rejects a copy with an unknown service key (the schema is really applied)', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wavebot-compose-'));
  const bad = path.join(tmp, 'compose.yaml');
  fs.writeFileSync(bad, text.replace('    restart: unless-stopped', '    restart: unless-stopped\n    restat: always'));
  const r = lint(bad);
  fs.rmSync(tmp, { recursive: true, force: true });
  assert.notEqual(r.status, 0, r.stdout);
});
check('it builds docker/Dockerfile from the repository root', () => {
  const ctx = path.resolve(path.dirname(file), svc.build.context);
  assert.equal(ctx, path.resolve(root));
  assert.ok(fs.existsSync(path.join(ctx, svc.build.dockerfile)), svc.build.dockerfile);
});
check('the named volume is mounted on the image\'s data directory (VOLUME, WAVEBOT_DATA_DIR)', () => {
  const mounts = svc.volumes.map((v) => v.split(':'));
  const data = mounts.find(([, target]) => target === env.WAVEBOT_DATA_DIR);
  assert.ok(data, `no volume on ${env.WAVEBOT_DATA_DIR}: ${JSON.stringify(svc.volumes)}`);
  assert.ok(Object.keys(compose.volumes).includes(data[0]), `${data[0]} is not a declared named volume`);
});
check('the published port is the image\'s EXPOSE port, on loopback only (TLS proxy in front)', () => {
  const exposed = inst('EXPOSE').flatMap((i) => i.args.split(' '));
  for (const p of svc.ports) {
    const parts = String(p).split(':');
    assert.equal(parts.length, 3, `${p}: bind a host address (127.0.0.1) so only the proxy reaches it`);
    assert.equal(parts[0], '127.0.0.1');
    assert.ok(exposed.includes(parts[2]), `${parts[2]} is not EXPOSEd by the image`);
  }
});
check('the health check is the image\'s HEALTHCHECK command', () => {
  const cmd = inst('HEALTHCHECK')[0].args.match(/CMD\s+(.*)$/)[1];
  assert.deepEqual(svc.healthcheck.test, ['CMD', ...JSON.parse(cmd)]);
});
check('every environment variable is one wavebot reads; secrets only as files', () => {
  const known = new Set();
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(cc|h)$/.test(e.name)) for (const m of fs.readFileSync(p, 'utf8').matchAll(/"(WAVEBOT_\w+)"/g)) known.add(m[1]);
    }
  };
  walk(path.join(root, 'src'));
  assert.ok(known.has('WAVEBOT_APP_ID') && known.size > 10, 'could not read the variables from src/');
  for (const k of Object.keys(svc.environment)) assert.ok(known.has(k), `${k} is read nowhere in src/`);
  for (const k of ['WAVEBOT_WEBHOOK_SECRET', 'WAVEBOT_TOKEN', 'WAVEBOT_ADMIN_TOKEN']) {
    assert.ok(!(k in svc.environment), `${k} inline: mount it as a secret file instead`);
  }
  const used = new Set(svc.secrets.map((s) => (typeof s === 'string' ? s : s.source)));
  for (const [k, v] of Object.entries(svc.environment)) {
    if (!k.endsWith('_FILE')) continue;
    const m = String(v).match(/^\/run\/secrets\/(.+)$/);
    assert.ok(m, `${k}=${v} must point into /run/secrets`);
    assert.ok(used.has(m[1]) && compose.secrets[m[1]], `${k} names secret ${m[1]}, which the service does not mount`);
  }
});
check('the container is locked down: read-only root, no capabilities, no new privileges, init', () => {
  assert.equal(svc.read_only, true);
  assert.deepEqual(svc.cap_drop, ['ALL']);
  assert.ok(svc.security_opt.includes('no-new-privileges:true'));
  assert.equal(svc.init, true, 'agents are child processes: an init reaps what escapes wavebot');
});
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
