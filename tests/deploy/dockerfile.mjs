// A small Dockerfile reader and the rules docker/Dockerfile must keep (hadolint is not packaged for
// Debian or npm; dockerfile-utils, pinned in package.json, checks the syntax and these rules the
// practices a reviewer of wavebot's image would ask for). Used by check_dockerfile.mjs and
// check_image_build.mjs.
import fs from 'node:fs';
import path from 'node:path';

// Parses Dockerfile text into stages: [{name, from, instructions: [{keyword, args, line}]}].
// Continuation lines are joined, comments and blank lines dropped.
export function parseDockerfile(text) {
  const stages = [];
  const preamble = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i];
    if (/^\s*(#.*)?$/.test(line)) continue;
    const start = i + 1;
    while (/\\\s*$/.test(line) && i + 1 < lines.length) {
      line = line.replace(/\\\s*$/, ' ');
      i++;
      if (/^\s*#/.test(lines[i])) continue;
      line += lines[i];
    }
    const m = line.trim().match(/^(\S+)\s*(.*)$/);
    const inst = { keyword: m[1].toUpperCase(), args: m[2].replace(/\s+/g, ' ').trim(), line: start };
    if (inst.keyword === 'FROM') {
      const f = inst.args.match(/^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i);
      stages.push({ name: f && f[2] ? f[2] : String(stages.length), from: f ? f[1] : '', line: start, instructions: [] });
    }
    (stages.length ? stages[stages.length - 1].instructions : preamble).push(inst);
  }
  return { stages, preamble };
}

// The packages an `apt-get install` in `run` installs (options dropped).
export function aptPackages(run) {
  const m = run.match(/apt-get\s+install\s+([^&;|]*)/);
  if (!m) return [];
  return m[1].split(/\s+/).filter((w) => w && !w.startsWith('-'));
}

function envOf(stage) {
  const env = {};
  for (const i of stage.instructions.filter((x) => x.keyword === 'ENV')) {
    for (const m of i.args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) env[m[1]] = m[2].replace(/^"|"$/g, '');
  }
  return env;
}

function isJsonArray(s) {
  try {
    const v = JSON.parse(s);
    return Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string');
  } catch {
    return false;
  }
}

// Returns [{rule, line, message}] for every broken rule. `repoRoot` resolves scripts named in RUN.
export function checkRules(text, repoRoot) {
  const problems = [];
  const add = (rule, line, message) => problems.push({ rule, line, message });
  const { stages } = parseDockerfile(text);
  if (stages.length < 2) {
    add('multi-stage', 1, 'expected a build stage and a runtime stage');
    return problems;
  }
  const names = new Set();
  for (const s of stages) {
    if (!/^[^:@]+[:@][^:]+$/.test(s.from) || /:latest$/.test(s.from)) {
      add('from-pinned', s.line, `FROM ${s.from}: name a tag (debian:12...), never latest or none`);
    }
    for (const i of s.instructions) {
      if (i.keyword === 'ADD') add('no-add', i.line, 'use COPY; ADD fetches URLs and unpacks archives implicitly');
      if (i.keyword === 'WORKDIR' && !i.args.startsWith('/')) add('workdir-absolute', i.line, 'WORKDIR must be absolute');
      if (i.keyword === 'COPY') {
        const from = i.args.match(/--from=(\S+)/);
        if (from && !names.has(from[1])) add('copy-from-stage', i.line, `COPY --from=${from[1]} names no earlier stage`);
      }
      if (i.keyword === 'RUN' && /apt-get\s+install/.test(i.args)) {
        if (!/\s-y\b|--yes\b/.test(i.args)) add('apt-yes', i.line, 'apt-get install needs -y');
        if (!/--no-install-recommends/.test(i.args)) add('apt-no-recommends', i.line, 'apt-get install needs --no-install-recommends');
        if (!/apt-get\s+update/.test(i.args)) add('apt-update-same-layer', i.line, 'run apt-get update in the same RUN as install');
        if (!/rm -rf \/var\/lib\/apt\/lists\/\*/.test(i.args)) add('apt-lists-removed', i.line, 'remove /var/lib/apt/lists/* in the same RUN');
      }
    }
    names.add(s.name);
  }
  const build = stages[0];
  const runtime = stages[stages.length - 1];
  if (!/^debian:12(\b|-)/.test(build.from) && !/^debian:bookworm/.test(build.from)) {
    add('debian-12', build.line, `the build stage must be Debian 12 (bookworm), not ${build.from}`);
  }
  if (!/^debian:(12|bookworm)-slim$/.test(runtime.from)) add('slim-runtime', runtime.line, `the runtime stage must be debian:12-slim, not ${runtime.from}`);
  // The build stage runs the repository's own build script, the one tests/deploy runs without docker.
  const buildRuns = build.instructions.filter((i) => i.keyword === 'RUN');
  if (!buildRuns.some((i) => /(^|\s)docker\/build\.sh\s/.test(i.args))) {
    add('build-script', build.line, 'the build stage must RUN docker/build.sh (what tests/deploy exercises)');
  }
  for (const i of buildRuns) {
    for (const m of i.args.matchAll(/(?:^|\s)((?:scripts|docker)\/[\w./-]+\.sh)\b/g)) {
      const p = path.join(repoRoot, m[1]);
      if (!fs.existsSync(p)) add('build-script', i.line, `${m[1]} does not exist in the repository`);
      else if ((fs.statSync(p).mode & 0o111) === 0) add('build-script', i.line, `${m[1]} is not executable`);
    }
  }
  const rt = (kw) => runtime.instructions.filter((i) => i.keyword === kw);
  for (const i of rt('RUN')) {
    for (const p of aptPackages(i.args)) {
      if (/-dev$|^(build-essential|cmake|ninja-build|g\+\+|gcc|clang.*|npm|nodejs)$/.test(p)) {
        add('runtime-slim', i.line, `the runtime stage installs the build tool or header package ${p}`);
      }
    }
  }
  const installed = rt('RUN').flatMap((i) => aptPackages(i.args));
  for (const p of ['ca-certificates', 'git', 'bubblewrap', 'tinyproxy-bin', 'socat']) {
    if (!installed.includes(p)) add('runtime-packages', runtime.line, `the runtime stage must install ${p}`);
  }
  const users = rt('USER');
  if (users.length === 0) add('non-root', runtime.line, 'the runtime stage must switch to a non-root USER');
  else if (/^(root|0)(:|$)/.test(users[users.length - 1].args)) add('non-root', users[users.length - 1].line, 'the last USER is root');
  const hc = rt('HEALTHCHECK');
  if (hc.length !== 1) add('healthcheck', runtime.line, 'the runtime stage needs exactly one HEALTHCHECK');
  else {
    const cmd = hc[0].args.match(/CMD\s+(.*)$/);
    if (!cmd || !isJsonArray(cmd[1])) add('healthcheck', hc[0].line, 'HEALTHCHECK CMD must be in exec (JSON) form');
    for (const opt of ['--interval', '--timeout']) {
      if (!hc[0].args.includes(opt)) add('healthcheck', hc[0].line, `HEALTHCHECK needs ${opt}`);
    }
  }
  const env = envOf(runtime);
  const volumes = rt('VOLUME').flatMap((i) => (isJsonArray(i.args) ? JSON.parse(i.args) : i.args.split(' ')));
  if (!env.WAVEBOT_DATA_DIR) add('data-volume', runtime.line, 'set ENV WAVEBOT_DATA_DIR in the runtime stage');
  else if (!volumes.includes(env.WAVEBOT_DATA_DIR)) add('data-volume', runtime.line, `VOLUME must include the data directory ${env.WAVEBOT_DATA_DIR}`);
  // A named volume starts as a copy of the image's directory: unless the image gives it to the
  // runtime user before VOLUME, the volume is root's and wavebot cannot write its database.
  if (env.WAVEBOT_DATA_DIR && users.length) {
    const user = users[users.length - 1].args.split(':')[0];
    const volumeLine = Math.min(...rt('VOLUME').map((i) => i.line), Infinity);
    const dir = env.WAVEBOT_DATA_DIR.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const owns = new RegExp(`(install -d[^&;]*-o ${user}\\b[^&;]*${dir}\\b|chown[^&;]*\\b${user}\\b[^&;]*${dir}\\b)`);
    if (!rt('RUN').some((i) => i.line < volumeLine && owns.test(i.args))) {
      add('data-dir-owned', runtime.line, `a RUN before VOLUME must give ${env.WAVEBOT_DATA_DIR} to ${user}`);
    }
  }
  const port = (env.WAVEBOT_LISTEN || '').split(':').pop();
  const exposed = rt('EXPOSE').flatMap((i) => i.args.split(' ').map((p) => p.split('/')[0]));
  if (!port || !exposed.includes(port)) add('expose-listen', runtime.line, `EXPOSE must publish the WAVEBOT_LISTEN port (${port || 'unset'})`);
  if (env.WAVEBOT_LISTEN && !/^(0\.0\.0\.0|\[::\]):/.test(env.WAVEBOT_LISTEN)) {
    add('expose-listen', runtime.line, 'inside a container WAVEBOT_LISTEN must bind every interface (0.0.0.0:PORT)');
  }
  for (const kw of ['ENTRYPOINT', 'CMD']) {
    for (const i of rt(kw)) if (!isJsonArray(i.args)) add('exec-form', i.line, `${kw} must be in exec (JSON) form`);
  }
  return problems;
}
