// ctest deploy_dockerfile_lint: docker/Dockerfile passes dockerfile-utils' linter (every finding an
// error) and wavebot's own rules (dockerfile.mjs); each rule is shown to fire on a broken copy.
// Usage: node check_dockerfile.mjs REPO_ROOT
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { checkRules } from './dockerfile.mjs';

const root = process.argv[2];
assert.ok(root, 'usage: node check_dockerfile.mjs REPO_ROOT');
const require = createRequire(import.meta.url);
let utils;
try {
  utils = require('dockerfile-utils');
} catch (e) {
  console.error('dockerfile-utils is missing: run npm ci in tests/deploy (scripts/test.sh does)');
  process.exit(1);
}
const file = path.join(root, 'docker/Dockerfile');
const text = fs.readFileSync(file, 'utf8');
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

// Every setting of dockerfile-utils' validator raised to an error (1 = error in ValidationSeverity).
const strict = {};
for (const k of ['deprecatedMaintainer', 'directiveCasing', 'emptyContinuationLine', 'instructionCasing',
  'instructionCmdMultiple', 'instructionEntrypointMultiple', 'instructionHealthcheckMultiple',
  'instructionJSONInSingleQuotes', 'instructionWorkdirRelative']) strict[k] = utils.ValidationSeverity.ERROR;
const lint = (t) => utils.validate(t, strict).map((d) => `line ${d.range.start.line + 1}: ${d.message}`);

check('dockerfile-utils finds nothing in docker/Dockerfile', () => {
  assert.deepEqual(lint(text), []);
});
check('dockerfile-utils catches a broken instruction (the linter really runs)', () => {
  assert.ok(lint(text.replace('EXPOSE 8080', 'EXPOSE http')).length > 0);
  assert.ok(lint(text + '\nRUNN true\n').length > 0);
});
check('docker/Dockerfile keeps every rule', () => {
  const problems = checkRules(text, root);
  assert.deepEqual(problems.map((p) => `line ${p.line} [${p.rule}] ${p.message}`), []);
});

// Each rule fires on a copy broken the way a careless edit would break it.
const mutations = [
  ['from-pinned', (t) => t.replace('FROM debian:12-slim AS runtime', 'FROM debian AS runtime')],
  ['slim-runtime', (t) => t.replace('FROM debian:12-slim AS runtime', 'FROM debian:12 AS runtime')],
  ['debian-12', (t) => t.replace('FROM debian:12 AS build', 'FROM debian:11 AS build')],
  ['no-add', (t) => t.replace('COPY . .', 'ADD . .')],
  ['copy-from-stage', (t) => t.replace('--from=build', '--from=builder')],
  ['apt-no-recommends', (t) => t.replace('--no-install-recommends', '')],
  ['apt-yes', (t) => t.replace('install -y', 'install')],
  ['apt-lists-removed', (t) => t.replace(' \\\n && rm -rf /var/lib/apt/lists/*', '')],
  ['runtime-slim', (t) => t.replace('      git \\\n', '      git \\\n      libgit2-dev \\\n')],
  ['runtime-packages', (t) => t.replace('      ca-certificates \\\n', '')],
  ['build-script', (t) => t.replace('docker/build.sh /opt/wavebot', 'cmake -S . -B /build')],
  ['non-root', (t) => t.replace('USER wavebot:wavebot', 'USER root')],
  ['healthcheck', (t) => t.replace(/HEALTHCHECK[^\n]*\\\n[^\n]*\n/, '')],
  ['healthcheck', (t) => t.replace('CMD ["wavebot", "doctor", "--healthz"]', 'CMD wavebot doctor --healthz')],
  ['data-volume', (t) => t.replace('VOLUME ["/var/lib/wavebot"]', 'VOLUME ["/data"]')],
  ['expose-listen', (t) => t.replace('EXPOSE 8080', 'EXPOSE 9090')],
  ['expose-listen', (t) => t.replace('WAVEBOT_LISTEN=0.0.0.0:8080', 'WAVEBOT_LISTEN=127.0.0.1:8080')],
  ['data-dir-owned', (t) => t.replace('install -d -o wavebot -g wavebot -m 0750 /var/lib/wavebot', 'install -d -m 0750 /var/lib/wavebot')],
  ['exec-form', (t) => t.replace('ENTRYPOINT ["wavebot"]', 'ENTRYPOINT wavebot')],
  ['workdir-absolute', (t) => t.replace('WORKDIR /src', 'WORKDIR src')],
];
for (const [rule, mutate] of mutations) {
  check(`rule ${rule} fires on a broken copy`, () => {
    const broken = mutate(text);
    assert.notEqual(broken, text, `the mutation for ${rule} no longer applies to docker/Dockerfile: update it`);
    const rules = checkRules(broken, root).map((p) => p.rule);
    assert.ok(rules.includes(rule), `expected ${rule}, got ${JSON.stringify(rules)}`);
  });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
