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

// A primary's pings: the far side speaks, the IDC only listens.
const TICKER = `
const net = require('node:net');
const server = net.createServer((s) => { const t = setInterval(() => s.write('tick'), 50); s.on('close', () => clearInterval(t)); s.on('error', () => {}); });
server.listen(7001, process.argv[1], () => console.log('listening'));
`;

// Says how many bytes it has received so far, every 100 ms.
const LISTENER = `
const net = require('node:net');
const s = net.connect({ host: process.argv[1], port: Number(process.argv[2]) });
let got = 0;
s.on('data', (d) => (got += d.length));
s.on('error', () => {});
setInterval(() => console.log(got), 100);
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
  const inside = (place: Place, script: string, ...args: string[]) =>
    spawn(place.wrap[0]!, [...place.wrap.slice(1), process.execPath, '-e', script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const server = inside(origin, SERVER, origin.host);
  const ticker = inside(origin, TICKER, origin.host);
  const edgeServer = inside(edge, SERVER, edge.host);
  let listener: ReturnType<typeof spawn> | undefined;
  let link: WanLink | undefined;
  let tickLink: WanLink | undefined;
  try {
    await Promise.all([server, ticker, edgeServer].map((p) => new Promise((resolve) => p.stdout!.once('data', resolve))));
    for (const place of [origin, edge]) assert.match(place.host, /^198\.1[89]\./, 'addresses from 198.18.0.0/15 only');
    const { stdout: routes } = await run('ip', ['-n', edge.wrap[3]!, 'route']);
    assert.deepEqual(routes.trim().split('\n').map((line) => line.split(' ')[0]), [`${edge.host.replace(/\.2$/, '.0')}/24`], 'no route out but the own /24');

    assert.equal(await connectFrom(origin, origin.host, 7000), `ok hello from ${origin.host}`);
    assert.equal(await connectFrom(edge, origin.host, 7000), 'ENETUNREACH', 'one IDC cannot reach another directly');

    link = await WanLink.open({ listenHost: edge.gateway, targets: [{ host: origin.host, port: 7000 }], delayMs: 5 });
    assert.equal(await connectFrom(edge, edge.gateway, link.port), `ok hello from ${origin.host}`, 'through the WAN link');

    // A connection the IDC opened before the cut, on which only the far side speaks (a primary's pings to a replica).
    tickLink = await WanLink.open({ listenHost: edge.gateway, targets: [{ host: origin.host, port: 7001 }], delayMs: 5 });
    listener = inside(edge, LISTENER, edge.gateway, String(tickLink.port));
    let received = 0;
    listener.stdout!.setEncoding('utf8').on('data', (text: string) => (received = Number(text.trim().split('\n').at(-1))));
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    while (received === 0) await sleep(50);

    assert.ok(network.canCut, network.note);
    await network.cut(edge);
    assert.equal(await connectFrom(edge, edge.gateway, link.port), 'timeout', 'a cut IDC reaches nothing');
    const atCut = received;
    await sleep(1000);
    assert.equal(received, atCut, 'nothing more arrives on a connection the IDC opened before the cut');
    const { stdout: fromHost } = await run(process.execPath, ['-e', CLIENT, edge.host, '7000'], { timeout: 10_000 });
    assert.equal(fromHost.trim(), `ok hello from ${edge.host}`, 'what the host opens into a cut IDC still works (the readers)');
    await network.heal(edge);
    assert.equal(await connectFrom(edge, edge.gateway, link.port), `ok hello from ${origin.host}`, 'healed');
  } finally {
    for (const child of [server, ticker, edgeServer, listener]) child?.kill('SIGKILL');
    await link?.close();
    await tickLink?.close();
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
