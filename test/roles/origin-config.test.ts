import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseOriginConfig } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';
import { runToExit } from '../helpers/edge.js';

test('imgedge origin: the contract\'s defaults, flags and IMGEDGE_* variables', () => {
  const config = parseOriginConfig([], {});
  assert.deepEqual(config.listen, { host: '0.0.0.0', port: 8081 });
  assert.equal(config.root, './var/origin');
  assert.equal(config.uploadToken, undefined);
  assert.equal(config.maxUploadBytes, 50 * 1024 * 1024);
  assert.equal(config.maxAgeSec, 3600);
  const set = parseOriginConfig(['--root', '/srv/img', '--max-upload-bytes', '2MiB', '--max-age=60', '--changelog', 'file'], { IMGEDGE_UPLOAD_TOKEN: 't' });
  assert.equal(set.root, '/srv/img');
  assert.equal(set.maxUploadBytes, 2 * 1024 * 1024);
  assert.equal(set.maxAgeSec, 60);
  assert.equal(set.uploadToken, 't');
  const redis = parseOriginConfig(['--changelog', 'redis://r:6379/1?stream=s', '--changelog-max-entries', '5000'], {});
  assert.equal(redis.changelog, 'redis://r:6379/1?stream=s');
  assert.equal(redis.changelogMaxEntries, 5000);
  assert.equal(parseOriginConfig([], {}).changelogMaxEntries, 1_000_000);
});

test('imgedge origin refuses what is not built, naming the option: S3 roots, the S3 flags', async () => {
  for (const [argv, option] of [
    [['--root', 's3://bucket/prefix'], 'root'],
    [['--changelog', 'rediss://127.0.0.1:6379'], 'changelog'],
    [['--changelog', 'kafka'], 'changelog'],
    [['--s3-endpoint', 'http://minio:9000'], 's3-endpoint'],
    [['--s3-region', 'eu-west-1'], 's3-region'],
    [['--max-upload-bytes', 'lots'], 'max-upload-bytes'],
  ] as const) {
    assert.throws(() => parseOriginConfig(argv, {}), (e: unknown) => e instanceof ConfigError && e.option === option, argv.join(' '));
  }
  const run = await runToExit(['origin', '--root', 's3://bucket']);
  assert.equal(run.code, 2);
  assert.match(run.output, /--root/);
});

test('imgedge origin --help lists its options with their defaults and exits 0', async () => {
  const help = await runToExit(['origin', '--help']);
  assert.equal(help.code, 0);
  for (const text of ['--listen HOST:PORT', '(default 0.0.0.0:8081)', '--upload-token TOKEN', '--max-upload-bytes SIZE', '(default 50MiB)', '--changelog file']) {
    assert.ok(help.output.includes(text), text);
  }
});
