// The IDCs' namespaces, where this process may make them (root on Linux):
// isolated from each other and from the world, joined only through a WAN
// link on the host, cut and healed with nft, and removed afterwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { makeNetwork, sweep, type Network, type Place } from '../../sim/netns.js';
import { WanLink } from '../../sim/link.js';

const run = promisify(execFile);

const SERVER = `
const net = require('node:net');
const server = net.createServer((s) => s.end('hello from ' + process.argv[1]));
server.listen(7000, process.argv[1], () => console.log('listening'));
`;

const CLIENT = `
const net = require('node:net');
const s = net.connect({ host: process.argv[1], port: Number(process.argv[2]), timeout: 1000 });
let got = '';
s.on('data', (d) => (got += d));
s.on('end', () => { console.log('ok ' + got); process.exit(0); });
s.on('timeout', () => { console.log('timeout'); process.exit(0); });
s.on('error', (e) => { console.log(e.code); process.exit(0); });
`;

/** Connects from inside `from` to host:port and says what happened. */
async function connectFrom(from: Place, host: string, port: number): Promise<string> {
  const [command, ...args] = [...from.wrap, process.execPath, '-e', CLIENT, host, String(port)];
  const { stdout } = await run(command!, args, { timeout: 10_000 });
  return stdout.trim();
}

async function namespaces(count: number): Promise<Network | string> {
  const network = await makeNetwork(count);
  if (network.kind === 'netns') return network;
  return network.note;
}

test('namespaces: isolated, joined by a WAN link, cut and healed, removed', { timeout: 60_000 }, async (t) => {
  const network = await namespaces(2);
  if (typeof network === 'string') {
    t.skip(network);
    return;
  }
  const [origin, edge] = network.places as [Place, Place];
  const server = spawn(origin.wrap[0]!, [...origin.wrap.slice(1), process.execPath, '-e', SERVER, origin.host], { stdio: ['ignore', 'pipe', 'inherit'] });
  let link: WanLink | undefined;
  try {
    await new Promise((resolve) => server.stdout!.once('data', resolve));
    for (const place of [origin, edge]) assert.match(place.host, /^198\.1[89]\./, 'addresses from 198.18.0.0/15 only');
    const { stdout: routes } = await run('ip', ['-n', edge.wrap[3]!, 'route']);
    assert.deepEqual(routes.trim().split('\n').map((line) => line.split(' ')[0]), [`${edge.host.replace(/\.2$/, '.0')}/24`], 'no route out but the own /24');

    assert.equal(await connectFrom(origin, origin.host, 7000), `ok hello from ${origin.host}`);
    assert.equal(await connectFrom(edge, origin.host, 7000), 'ENETUNREACH', 'one IDC cannot reach another directly');

    link = await WanLink.open({ listenHost: edge.gateway, targets: [{ host: origin.host, port: 7000 }], delayMs: 5 });
    assert.equal(await connectFrom(edge, edge.gateway, link.port), `ok hello from ${origin.host}`, 'through the WAN link');

    assert.ok(network.canCut, network.note);
    await network.cut(edge);
    assert.equal(await connectFrom(edge, edge.gateway, link.port), 'timeout', 'a cut IDC reaches nothing');
    await network.heal(edge);
    assert.equal(await connectFrom(edge, edge.gateway, link.port), `ok hello from ${origin.host}`, 'healed');
  } finally {
    server.kill('SIGKILL');
    await link?.close();
    await network.close();
  }
  const { stdout: left } = await run('ip', ['netns', 'list']);
  assert.ok(!left.includes(`imgsim${process.pid}-`), `namespaces removed: ${left}`);
  const { stdout: links } = await run('ip', ['-o', 'link', 'show']);
  assert.ok(!links.includes(`img${process.pid}h`), 'veths removed');
});

test('a sweep removes what a dead run left behind, and nothing of a live one', { timeout: 30_000 }, async (t) => {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) {
    t.skip('namespaces need root on Linux');
    return;
  }
  const dead = spawn(process.execPath, ['-e', '0']);
  await new Promise((resolve) => dead.once('exit', resolve));
  const leftover = `imgsim${dead.pid}-0`;
  const live = `imgsim${process.pid}-99`;
  try {
    await run('ip', ['netns', 'add', leftover]);
    await run('ip', ['netns', 'add', live]);
  } catch (error) {
    t.skip(`ip netns add not permitted: ${(error as Error).message.split('\n')[0]}`);
    return;
  }
  try {
    const removed = await sweep();
    assert.ok(removed.includes(leftover));
    assert.ok(!removed.includes(live));
  } finally {
    await run('ip', ['netns', 'del', leftover]).catch(() => {});
    await run('ip', ['netns', 'del', live]).catch(() => {});
  }
});
