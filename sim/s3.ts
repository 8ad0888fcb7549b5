// The origin IDC's bucket: s3rver (an S3 API server in Node) in a process of
// its own, inside the origin IDC, so its work is not the harness's.
// Prints {"ready":true,"port":N} once it listens.
// usage: node dist/sim/s3.js --host ADDR --dir DIR --bucket NAME
import { parseArgs } from 'node:util';
import S3rver from 's3rver';

const { values } = parseArgs({ options: { host: { type: 'string' }, dir: { type: 'string' }, bucket: { type: 'string' } }, strict: true });
if (!values.host || !values.dir || !values.bucket) {
  console.error('usage: s3.js --host ADDR --dir DIR --bucket NAME');
  process.exit(2);
}
const server = new S3rver({ address: values.host, port: 0, silent: true, directory: values.dir, configureBuckets: [{ name: values.bucket }] });
const { port } = (await server.run()) as { port: number };
process.stdout.write(`${JSON.stringify({ ready: true, port })}\n`);
const stop = () => void server.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
