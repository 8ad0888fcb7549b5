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

test('imgedge origin refuses a bad or incomplete configuration, naming the option', async () => {
  for (const [argv, option, env] of [
    [['--root', 's3://bucket/prefix'], 'changelog', {}],
    [['--root', 's3://b/p', '--changelog', 'redis://r:6379'], 'root', { AWS_ACCESS_KEY_ID: 'only-the-id' }],
    [['--root', 's3://Not_A_Bucket', '--changelog', 'redis://r:6379'], 'root', {}],
    [['--root', 's3://bucket/a//b', '--changelog', 'redis://r:6379'], 'root', {}],
    [['--root', 's3://bucket', '--changelog', 'redis://r:6379', '--s3-endpoint', 'minio:9000'], 's3-endpoint', {}],
    [['--s3-endpoint', 'http://minio:9000'], 's3-endpoint', {}],
    [['--s3-region', 'eu-west-1'], 's3-region', {}],
    [['--changelog-max-entries', '5000'], 'changelog-max-entries', {}],
    [['--changelog', 'redis://r:6379', '--changelog-max-bytes', '1GiB'], 'changelog-max-bytes', {}],
    [['--changelog', 'redis://r:6379', '--changelog-max-age', '1d'], 'changelog-max-age', {}],
    [['--changelog', 'rediss://127.0.0.1:6379'], 'changelog', {}],
    [['--changelog', 'kafka'], 'changelog', {}],
    [['--max-upload-bytes', 'lots'], 'max-upload-bytes', {}],
  ] as const) {
    assert.throws(() => parseOriginConfig(argv, env), (e: unknown) => e instanceof ConfigError && e.option === option, argv.join(' '));
  }
  const run = await runToExit(['origin', '--root', 's3://bucket']);
  assert.equal(run.code, 2);
  assert.match(run.output, /--changelog/);
});

test('an s3:// root: bucket, prefix, endpoint, region, and credentials from AWS_* only', () => {
  const config = parseOriginConfig(
    ['--root', 's3://images/originals/', '--changelog', 'redis://r:6379', '--s3-endpoint', 'http://minio:9000', '--s3-region', 'eu-west-1'],
    { AWS_ACCESS_KEY_ID: 'id', AWS_SECRET_ACCESS_KEY: 'secret' },
  );
  assert.equal(config.s3?.bucket, 'images');
  assert.equal(config.s3?.prefix, 'originals');
  assert.equal(config.s3?.endpoint?.href, 'http://minio:9000/');
  assert.equal(config.s3?.region, 'eu-west-1');
  assert.deepEqual(config.s3?.credentials, { accessKeyId: 'id', secretAccessKey: 'secret' });
  const bare = parseOriginConfig(['--root', 's3://images', '--changelog', 'redis://r:6379'], {});
  assert.equal(bare.s3?.prefix, '');
  assert.equal(bare.s3?.region, 'us-east-1');
  assert.equal(bare.s3?.credentials, undefined);
  assert.equal(parseOriginConfig([], {}).s3, null);
});

test('imgedge origin --help lists its options with their defaults and exits 0', async () => {
  const help = await runToExit(['origin', '--help']);
  assert.equal(help.code, 0);
  for (const text of ['--listen HOST:PORT', '(default 0.0.0.0:8081)', '--upload-token TOKEN', '--max-upload-bytes SIZE', '(default 50MiB)', '--changelog file']) {
    assert.ok(help.output.includes(text), text);
  }
});
