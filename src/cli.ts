// argv → role. A bad option prints one line naming it and exits 2.
import { ConfigError } from './errors.js';
import {
  DEMO_OPTIONS, EDGE_OPTIONS, ORIGIN_OPTIONS, SIGN_OPTIONS, optionsHelp, parseDemoConfig, parseEdgeConfig, parseOriginConfig,
  parseSignConfig, type OptionTable,
} from './config.js';
import { VERSION } from './version.js';

const USAGE = `imgedge ${VERSION}: a pull-through image cache

usage:
  imgedge edge --origin URL [options]    the pull-through cache
  imgedge origin [options]               the origin store uploaders write to, and its change log
  imgedge demo [options]                 sample images behind an edge, on one machine
  imgedge sign --signing-key KEY URL     URL with its sig parameter, for transform requests

Every option is also an IMGEDGE_* variable (--cache-dir is IMGEDGE_CACHE_DIR).
imgedge COMMAND --help lists the options of a command.`;

const COMMANDS: Readonly<Record<string, { usage: string; options: OptionTable }>> = {
  edge: { usage: 'imgedge edge --origin URL [options]', options: EDGE_OPTIONS },
  origin: { usage: 'imgedge origin [options]', options: ORIGIN_OPTIONS },
  demo: { usage: 'imgedge demo [options]', options: DEMO_OPTIONS },
  sign: { usage: 'imgedge sign --signing-key KEY URL', options: SIGN_OPTIONS },
};

/** `imgedge COMMAND --help`: the command's options with their defaults. */
function commandHelp(command: string): string | null {
  const known = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!known) return null;
  return `usage: ${known.usage}\n\noptions (each also an IMGEDGE_* variable; the flag wins):\n${optionsHelp(known.options)}`;
}

type Stop = () => Promise<void>;

/** Stops cleanly on SIGTERM/SIGINT; a second signal exits at once. */
function stopOnSignals(stop: Stop): void {
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (stopping) process.exit(1);
      stopping = true;
      stop().then(
        () => process.exit(0),
        (error: unknown) => {
          console.error(`imgedge: error while stopping: ${(error as Error).message}`);
          process.exit(1);
        },
      );
    });
  }
}

export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const help = (rest.includes('--help') || rest.includes('-h')) && command ? commandHelp(command) : null;
  if (help) {
    console.log(help);
    return;
  }
  try {
    switch (command) {
      case 'edge': {
        const config = parseEdgeConfig(rest, process.env);
        const { startEdge } = await import('./edge/server.js');
        const edge = await startEdge(config);
        stopOnSignals(edge.close);
        return;
      }
      case 'demo': {
        const config = parseDemoConfig(rest, process.env);
        const { startDemo } = await import('./roles/demo.js');
        const demo = await startDemo(config);
        stopOnSignals(demo.close);
        return;
      }
      case 'sign': {
        const config = parseSignConfig(rest, process.env);
        const { signUrl } = await import('./transform/sign.js');
        console.log(signUrl(config.signingKey, config.url));
        return;
      }
      case 'origin': {
        const config = parseOriginConfig(rest, process.env);
        const { startOrigin } = await import('./roles/origin/server.js');
        const origin = await startOrigin(config);
        stopOnSignals(origin.close);
        return;
      }
      case '--version':
      case 'version':
        console.log(VERSION);
        return;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        console.log(USAGE);
        process.exit(command === undefined ? 2 : 0);
        return;
      default:
        console.error(`imgedge: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
        process.exit(2);
    }
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    const code = (error as NodeJS.ErrnoException).code;
    console.error(`imgedge: ${command}: ${code ? `${code}: ` : ''}${(error as Error).message}`);
    process.exit(1);
  }
}
