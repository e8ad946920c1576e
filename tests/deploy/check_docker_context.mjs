// ctest deploy_docker_context: the build context docker/Dockerfile gets (the repository root minus
// docker/Dockerfile.dockerignore) holds everything the build stage's configure step needs and none of
// the build output or node_modules: the context is copied as docker would send it and configured from
// scratch with docker/build.sh's cmake options, then `ninja -n wavebot` shows the binary would build.
// Usage: node check_docker_context.mjs REPO_ROOT
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(process.argv[2] || '');
assert.ok(process.argv[2], 'usage: node check_docker_context.mjs REPO_ROOT');
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

// .dockerignore semantics: patterns relative to the context root, `*` within a segment, `**` across
// segments, a match on a directory excludes all below it, `!` re-includes; the last match wins.
function compile(file) {
  return fs.readFileSync(file, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
    .map((p) => {
      const negate = p.startsWith('!');
      const pat = path.posix.normalize((negate ? p.slice(1) : p).replace(/^\/+/, ''));
      let re = '';
      for (let i = 0; i < pat.length; i++) {
        const c = pat[i];
        if (c === '*' && pat[i + 1] === '*') {
          re += pat[i + 2] === '/' ? '(?:.*/)?' : '.*';
          i += pat[i + 2] === '/' ? 2 : 1;
        } else if (c === '*') re += '[^/]*';
        else if (c === '?') re += '[^/]';
        else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
      }
      return { negate, re: new RegExp(`^${re}$`) };
    });
}
function ignored(rules, rel) {
  let out = false;
  const parts = rel.split('/');
  for (const r of rules) {
    for (let n = 1; n <= parts.length; n++) {
      if (r.re.test(parts.slice(0, n).join('/'))) {
        out = !r.negate;
        break;
      }
    }
  }
  return out;
}

const rules = compile(path.join(root, 'docker/Dockerfile.dockerignore'));
const files = [];
let bytes = 0;
(function walk(dir) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const abs = path.join(dir, e.name);
    const rel = path.relative(root, abs).split(path.sep).join('/');
    if (ignored(rules, rel)) continue;
    if (e.isDirectory()) walk(abs);
    else if (e.isFile()) {
      files.push(rel);
      bytes += fs.statSync(abs).size;
    }
  }
})(root);

check('the ignore rules behave as docker applies them', () => {
  assert.ok(ignored(rules, 'build/src/cli/wavebot'));
  assert.ok(ignored(rules, 'tests/deploy/node_modules/yaml/package.json'));
  assert.ok(ignored(rules, '.git/HEAD'));
  assert.ok(!ignored(rules, 'src/cli/main.cc'));
  assert.ok(!ignored(rules, 'scripts/setup.sh'));
});
check('the context carries the sources and no build output or node_modules', () => {
  for (const f of ['CMakeLists.txt', 'cmake/Dependencies.cmake', 'scripts/setup.sh', 'docker/build.sh', 'src/cli/main.cc',
    'tests/CMakeLists.txt']) {
    assert.ok(files.includes(f), `${f} is missing from the context`);
  }
  const bad = files.filter((f) => /(^|\/)(node_modules|build[^/]*)\//.test(f) && !f.startsWith('src/'));
  assert.deepEqual(bad.slice(0, 5), [], 'build output or node_modules in the context');
  assert.ok(bytes < 64 * 1024 * 1024, `the context is ${(bytes / 1048576).toFixed(1)} MiB`);
  console.log(`     ${files.length} files, ${(bytes / 1048576).toFixed(1)} MiB`);
});

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wavebot-context-'));
check('a fresh configure of the context with docker/build.sh\'s options can build wavebot', () => {
  const ctx = path.join(tmp, 'src');
  for (const f of files) {
    fs.mkdirSync(path.dirname(path.join(ctx, f)), { recursive: true });
    fs.copyFileSync(path.join(root, f), path.join(ctx, f));
    fs.chmodSync(path.join(ctx, f), fs.statSync(path.join(root, f)).mode);
  }
  // The cmake line of docker/build.sh, with its build directory variable filled in.
  const script = fs.readFileSync(path.join(root, 'docker/build.sh'), 'utf8');
  const line = script.split('\n').find((l) => /^cmake -S \. -B "\$BUILD_DIR"/.test(l));
  assert.ok(line, 'no `cmake -S . -B "$BUILD_DIR" ...` line in docker/build.sh');
  const cmd = `GENERATOR=(); command -v ninja >/dev/null && GENERATOR=(-G Ninja); BUILD_DIR=${tmp}/build; ${line}`;
  const r = spawnSync('bash', ['-c', cmd], { cwd: ctx, encoding: 'utf8', timeout: 240_000 });
  assert.equal(r.status, 0, `configure failed:\n${r.stdout}\n${r.stderr}`);
  const dry = spawnSync('cmake', ['--build', `${tmp}/build`, '--target', 'wavebot', '--', '-n'], { encoding: 'utf8' });
  assert.equal(dry.status, 0, dry.stdout + dry.stderr);
  assert.match(dry.stdout, /src\/cli\/wavebot\b/);
});
fs.rmSync(tmp, { recursive: true, force: true });
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
