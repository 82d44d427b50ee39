/**
 * `ambit lab app <name> [args]`: the built-in apps behind pod images `ambit/httpbin`,
 * `ambit/sleep` and `ambit/dns`.
 */
import { AmbitError } from '../../errors.js';
import { createLogger } from '../../log.js';
import { intFlag, parseFlags } from '../../flags.js';
import { startHttpbin } from './httpbin.js';
import { runSleep } from './sleep.js';

const usage = 'usage: ambit lab app httpbin [--port 80] [--host 0.0.0.0] | sleep | dns [--port 53]';

export async function run(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  switch (name) {
    case 'httpbin':
      return runHttpbin(rest);
    case 'sleep':
      return runSleep();
    case 'dns':
      return (await import('../dns/main.js')).run(rest);
    case undefined:
    case '-h':
    case '--help':
      console.log(usage);
      return name ? 0 : 2;
    default:
      throw new AmbitError('LAB_UNKNOWN_APP', `unknown built-in app ${JSON.stringify(name)}`, {
        value: name,
        hint: 'one of httpbin, sleep, dns',
      });
  }
}

async function runHttpbin(args: string[]): Promise<number> {
  const f = parseFlags(args);
  const log = createLogger('httpbin');
  const port = intFlag(f, 'port', 80);
  const host = f.values.get('host') ?? '0.0.0.0';
  const srv = await startHttpbin({ host, port, log });
  log.info('listening', { address: `${host}:${srv.port}` });
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await srv.close();
  return 0;
}
