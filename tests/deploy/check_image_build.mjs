// ctest deploy_image_build: the image's build steps without a docker engine.
//  1. Runs the build stage's RUN lines of docker/Dockerfile as written, with only the build directory
//     and the install prefix moved to BUILD_DIR and a temporary PREFIX.
//  2. The installed binary is where the runtime stage's COPY --from takes it, and runs `version`.
//  3. The runtime stage's apt packages provide every shared library `ldd` finds (dpkg -S), directly or
//     through their dependencies or Debian's essential packages, and each listed library package is
//     needed by the binary (the list neither misses nor carries dead weight).
// Usage: node check_image_build.mjs REPO_ROOT BUILD_DIR
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { aptPackages, parseDockerfile } from './dockerfile.mjs';

const [root, buildDir] = process.argv.slice(2);
assert.ok(root && buildDir, 'usage: node check_image_build.mjs REPO_ROOT BUILD_DIR');
for (const tool of ['ldd', 'dpkg', 'dpkg-query', 'bash']) {
  const r = spawnSync('sh', ['-c', `command -v ${tool}`]);
  if (r.status !== 0) {
    console.error(`${tool} is missing: this test needs a Debian system (scripts/setup.sh)`);
    process.exit(1);
  }
}
const { stages } = parseDockerfile(fs.readFileSync(path.join(root, 'docker/Dockerfile'), 'utf8'));
const build = stages.find((s) => s.name === 'build');
const runtime = stages[stages.length - 1];
assert.ok(build, 'docker/Dockerfile has no stage named build');
const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'wavebot-image-'));
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

// The image's paths, read from the Dockerfile: WAVEBOT_BUILD_DIR=<dir> and the build.sh PREFIX.
const copy = runtime.instructions.find((i) => i.keyword === 'COPY' && i.args.includes('--from=build'));
let imagePrefix = '';
check('the build stage runs docker/build.sh PREFIX and the runtime stage copies PREFIX/bin/wavebot', () => {
  const run = build.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args).join('\n');
  const m = run.match(/docker\/build\.sh\s+(\/\S+)/);
  assert.ok(m, `no "docker/build.sh /PREFIX" in the build stage:\n${run}`);
  imagePrefix = m[1];
  assert.ok(copy, 'no COPY --from=build in the runtime stage');
  const src = copy.args.split(' ').filter((w) => !w.startsWith('--'))[0];
  assert.equal(src, `${imagePrefix}/bin/wavebot`);
});

check('the build stage\'s RUN lines build and install wavebot (as the image build would)', () => {
  for (const inst of build.instructions.filter((i) => i.keyword === 'RUN')) {
    const dirMatch = inst.args.match(/WAVEBOT_BUILD_DIR=(\S+)/);
    let cmd = inst.args;
    // Move the image's absolute paths to this machine's; nothing else of the command changes.
    if (dirMatch) cmd = cmd.replace(`WAVEBOT_BUILD_DIR=${dirMatch[1]}`, `WAVEBOT_BUILD_DIR=${buildDir}`);
    cmd = cmd.split(imagePrefix).join(prefix);
    console.log(`     RUN ${inst.args}\n  as RUN ${cmd}`);
    const r = spawnSync('bash', ['-c', cmd], { cwd: root, encoding: 'utf8', timeout: 1500_000 });
    assert.equal(r.status, 0, `exit ${r.status}\n${r.stdout}\n${r.stderr}`);
  }
});

const binary = path.join(prefix, 'bin/wavebot');
check('the installed binary runs `wavebot version` with the project\'s version', () => {
  const cmake = fs.readFileSync(path.join(root, 'CMakeLists.txt'), 'utf8');
  const version = cmake.match(/project\(wavebot VERSION (\S+)/)[1];
  const out = execFileSync(binary, ['version'], { encoding: 'utf8' }).trim();
  assert.equal(out, `wavebot ${version}`);
  const mode = fs.statSync(binary).mode;
  assert.equal(mode & 0o755, 0o755, 'the binary must be executable by the image\'s non-root user');
});

check('the installed binary is stripped (a slim image)', () => {
  const r = spawnSync('readelf', ['-S', binary], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error('readelf is missing (binutils)');
  assert.ok(!/\.debug_info|\.symtab/.test(r.stdout), 'debug info or a symbol table left in the binary');
});

function dpkgOwner(lib) {
  const real = fs.realpathSync(lib);
  const candidates = new Set([lib, real]);
  for (const p of [...candidates]) {
    if (p.startsWith('/usr/lib/')) candidates.add(p.slice(4));
    else if (p.startsWith('/lib/')) candidates.add(`/usr${p}`);
  }
  for (const p of candidates) {
    const r = spawnSync('dpkg', ['-S', p], { encoding: 'utf8' });
    if (r.status === 0) return r.stdout.split(':')[0].trim();
  }
  throw new Error(`no Debian package owns ${lib}`);
}

// Depends and Pre-Depends of an installed package (first alternative of each, as apt chooses).
function depends(pkg) {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Depends}, ${Pre-Depends}', pkg], { encoding: 'utf8' });
  if (r.status !== 0) return [];
  return r.stdout.split(',').map((d) => d.split('|')[0].trim().split(/[\s:(]/)[0]).filter(Boolean);
}

check('the runtime stage\'s packages provide every shared library of the binary', () => {
  const ldd = execFileSync('ldd', [binary], { encoding: 'utf8' });
  assert.ok(!/not found/.test(ldd), ldd);
  const libs = [...ldd.matchAll(/=>\s*(\/\S+)/g)].map((m) => m[1]);
  assert.ok(libs.length > 5, ldd);
  const listed = runtime.instructions.filter((i) => i.keyword === 'RUN').flatMap((i) => aptPackages(i.args));
  const essential = execFileSync('dpkg-query', ['-W', '-f=${Package} ${Essential}\n'], { encoding: 'utf8' })
    .split('\n').filter((l) => l.endsWith(' yes')).map((l) => l.split(' ')[0]);
  const closure = new Set();
  const todo = [...listed, ...essential];
  while (todo.length) {
    const p = todo.pop();
    if (closure.has(p)) continue;
    closure.add(p);
    todo.push(...depends(p));
  }
  const owners = new Map(libs.map((l) => [l, dpkgOwner(l)]));
  const missing = [...owners].filter(([, pkg]) => !closure.has(pkg)).map(([l, pkg]) => `${pkg} (${l})`);
  assert.deepEqual(missing, [], 'add these packages to the runtime stage of docker/Dockerfile');
  // Dead weight: a listed library package the binary does not load.
  const needed = new Set(owners.values());
  const extra = listed.filter((p) => /^lib/.test(p) && !needed.has(p));
  assert.deepEqual(extra, [], 'the runtime stage installs library packages the binary does not use');
  for (const p of listed) {
    const r = spawnSync('dpkg-query', ['-W', '-f=${Version}', p], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${p} is not a Debian 12 package installed here (typo or wrong release?)`);
  }
});

fs.rmSync(prefix, { recursive: true, force: true });
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
