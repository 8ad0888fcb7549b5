// Child-process entry: `node tether.js COMMAND ARGS...` runs the command and
// ends it when this process's stdin closes, that is when the harness that
// started it is gone, even if it was killed outright and ran no cleanup. So a
// conformance run never leaves an edge behind. SIGTERM is passed on.
import { spawn } from 'node:child_process';

const [command, ...args] = process.argv.slice(2);
if (!command) {
  console.error('usage: tether COMMAND [ARGS...]');
  process.exit(2);
}
const child = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit'] });
const stop = () => {
  child.kill('SIGTERM');
  // A child that ignores SIGTERM still goes; unref'd so a prompt exit is not held up.
  setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
};
process.stdin.resume();
process.stdin.once('end', stop);
process.stdin.once('error', stop);
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
child.once('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
child.once('error', (error) => {
  console.error(`tether: ${error.message}`);
  process.exit(1);
});
