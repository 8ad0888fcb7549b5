#!/usr/bin/env node
// The image's HEALTHCHECK. It finds the imgedge process in the container and
// asks it the way its role allows: an edge (or the demo) answers /healthz on
// its admin port; the origin has no admin port, so any HTTP answer on its
// public port means it is serving. Addresses come from the process's own
// flags and IMGEDGE_* variables, so a changed --admin-listen is followed.
// Exit 0 healthy, 1 not.
import fs from 'node:fs';

const ROLES = new Set(['edge', 'origin', 'demo']);

/** The argv and env of the imgedge process: PID 1 unless an init runs first. */
function findImgedge() {
  for (const pid of fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    let argv;
    try {
      argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    const at = argv.findIndex((arg, i) => /(^|\/)imgedge(\.js)?$/.test(arg) && ROLES.has(argv[i + 1] ?? ''));
    if (at === -1) continue;
    const env = new Map();
    for (const line of fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
      const eq = line.indexOf('=');
      if (eq > 0) env.set(line.slice(0, eq), line.slice(eq + 1));
    }
    return { role: argv[at + 1], args: argv.slice(at + 2), env };
  }
  return null;
}

/** An option's value as the process read it: the flag first, then IMGEDGE_*. */
function option({ args, env }, name, fallback) {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === `--${name}`) return args[i + 1] ?? fallback;
    if (args[i].startsWith(`--${name}=`)) return args[i].slice(name.length + 3);
  }
  return env.get(`IMGEDGE_${name.toUpperCase().replaceAll('-', '_')}`) || fallback;
}

/** HOST:PORT → a URL that reaches it from inside the container. */
function local(hostPort) {
  const colon = hostPort.lastIndexOf(':');
  let host = hostPort.slice(0, colon);
  const port = hostPort.slice(colon + 1);
  if (host === '0.0.0.0' || host === '') host = '127.0.0.1';
  if (host === '::' || host === '[::]') host = '[::1]';
  return `http://${host}:${port}`;
}

const found = findImgedge();
if (!found) {
  console.error('healthcheck: no imgedge edge, origin or demo process');
  process.exit(1);
}
const url =
  found.role === 'origin'
    ? `${local(option(found, 'listen', '0.0.0.0:8081'))}/`
    : `${local(option(found, 'admin-listen', '127.0.0.1:9090'))}/healthz`;
try {
  const response = await fetch(url, { method: found.role === 'origin' ? 'HEAD' : 'GET', signal: AbortSignal.timeout(4000) });
  const healthy = found.role === 'origin' || response.status === 200;
  if (!healthy) console.error(`healthcheck: ${url} answered ${response.status}`);
  process.exit(healthy ? 0 : 1);
} catch (error) {
  console.error(`healthcheck: ${url}: ${error.cause?.code ?? error.message}`);
  process.exit(1);
}
