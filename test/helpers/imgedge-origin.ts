// `imgedge origin` for tests: in this process, on 127.0.0.1 and a free port,
// over a fresh root; and sample images drawn with sharp.
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { parseOriginConfig } from '../../src/config.js';
import { startOrigin, type RunningOrigin } from '../../src/roles/origin/server.js';
import { tempDir, spawnReady } from './edge.js';

export const TOKEN = 'test-upload-token';

export interface TestImgedgeOrigin {
  readonly url: string;
  readonly root: string;
  readonly origin: RunningOrigin;
  put(target: string, body: Buffer, token?: string): Promise<Response>;
  del(target: string, token?: string): Promise<Response>;
  close(): Promise<void>;
}

export async function startTestImgedgeOrigin(options: { root?: string; args?: string[] } = {}): Promise<TestImgedgeOrigin> {
  const own = options.root === undefined ? tempDir('origin') : null;
  const root = options.root ?? path.join(own!, 'root');
  const origin = await startOrigin(
    parseOriginConfig(['--listen', '127.0.0.1:0', '--root', root, '--upload-token', TOKEN, '--log-level', 'silent', ...(options.args ?? [])], {}),
  );
  const auth = (token: string) => ({ authorization: `Bearer ${token}` });
  return {
    url: origin.url,
    root,
    origin,
    put: (target, body, token = TOKEN) => fetch(origin.url + target, { method: 'PUT', body, headers: auth(token) }),
    del: (target, token = TOKEN) => fetch(origin.url + target, { method: 'DELETE', headers: auth(token) }),
    close: async () => {
      await origin.close();
      if (own) fs.rmSync(own, { recursive: true, force: true });
    },
  };
}

/** A small PNG whose bytes differ with `seed`. */
export function samplePng(seed: number, width = 64, height = 48): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: seed % 256, g: (seed * 7) % 256, b: (seed * 13) % 256 } } })
    .png()
    .toBuffer();
}

export function sampleJpeg(seed: number, width = 64, height = 48): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: seed % 256, g: 90, b: 200 } } }).jpeg().toBuffer();
}

export interface OriginProcess {
  readonly url: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
}

/** Runs `imgedge origin <args>` as a child process and resolves once it logs "origin ready". */
export async function spawnOrigin(args: string[], readyTimeoutMs = 20_000): Promise<OriginProcess> {
  const origin = await spawnReady<{ listen: { port: number } }>(
    ['origin', '--listen', '127.0.0.1:0', '--log-level', 'info', ...args], 'origin ready', { readyTimeoutMs },
  );
  return { url: `http://127.0.0.1:${origin.ready.listen.port}`, exited: origin.exited, kill: origin.kill };
}
