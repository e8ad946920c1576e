// ctest deploy_workflows: every workflow in .github/workflows/ passes @action-validator/cli (pinned in
// package.json), and the validator is shown to reject a broken workflow.
// Usage: node check_workflows.mjs REPO_ROOT
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = process.argv[2];
assert.ok(root, 'usage: node check_workflows.mjs REPO_ROOT');
const here = path.dirname(fileURLToPath(import.meta.url));
const validator = path.join(here, 'node_modules/.bin/action-validator');
if (!fs.existsSync(validator)) {
  console.error(`${validator} is missing: run npm ci in tests/deploy (scripts/test.sh does)`);
  process.exit(1);
}
const dir = path.join(root, '.github/workflows');
const files = fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).map((f) => path.join(dir, f));
let failed = 0;
let passed = 0;
const validate = (f) => spawnSync(validator, [f], { encoding: 'utf8' });
if (files.length === 0) {
  console.log(`FAIL no workflow files in ${dir}`);
  failed++;
}
for (const f of files) {
  const r = validate(f);
  if (r.status === 0) {
    passed++;
    console.log(`ok   ${path.relative(root, f)}`);
  } else {
    failed++;
    console.log(`FAIL ${path.relative(root, f)}\n${r.stdout}${r.stderr}`);
  }
}
// The validator really validates: a job with both `uses` and `runs-on` steps mixed up must fail.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wavebot-wf-'));
const bad = path.join(tmp, 'bad.yml');
fs.writeFileSync(bad, 'on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n        run: echo both\n');
if (validate(bad).status !== 0) {
  passed++;
  console.log('ok   the validator rejects a step with both uses and run');
} else {
  failed++;
  console.log('FAIL the validator accepted a step with both uses and run');
}
fs.rmSync(tmp, { recursive: true, force: true });
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
