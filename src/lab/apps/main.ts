/**
 * `ambit lab app <name> [args]`: the built-in apps behind pod images `ambit/httpbin`,
 * `ambit/sleep` and `ambit/dns`.
 */
import { stopSignal } from '../../daemon.js';
import { AmbitError } from '../../errors.js';
import { createLogger } from '../../log.js';
import { intFlag, parseFlags } from '../../flags.js';
import { startHttpbin } from './httpbin.js';
import { runSleep } from './sleep.js';
import { helloworldServer } from './helloworld.js';
import { tcpEchoServers } from './tcp-echo.js';
import type { Server } from 'node:net';

/** Runs servers until SIGTERM/SIGINT, then closes them. */
async function serveUntilSignal(start: () => Server[]): Promise<number> {
  const servers = start();
  await stopSignal();
  for (const s of servers) s.close();
  return 0;
}

const usage =
  'usage: ambit lab app httpbin [--port 80] [--host 0.0.0.0] [--flavor python|go] | sleep | dns [--port 53] | helloworld [--version v1] | tcp-echo <ports> <prefix> | echo [--port 8080] [--grpc 7070] [--tcp P] [--tls P] | bookinfo <productpage|details|reviews|ratings> [--version v1|v2|v3] [--port 9080] | prometheus <prometheus flags>';

export async function run(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  switch (name) {
    case 'httpbin':
      return runHttpbin(rest);
    case 'sleep':
      return runSleep();
    case 'helloworld':
      return serveUntilSignal(() => {
        const v = parseFlags(rest).values.get('version') ?? 'v1';
        const s = helloworldServer(v);
        s.listen(5000, '0.0.0.0');
        return [s];
      });
    case 'tcp-echo':
      return serveUntilSignal(() => tcpEchoServers(rest[0] ?? '9000', rest[1] ?? 'hello'));
    case 'dns':
      return (await import('../dns/main.js')).run(rest);
    case 'echo':
      return (await import('./echo-main.js')).runEcho(rest);
    case 'bookinfo':
      return (await import('./bookinfo/main.js')).runBookinfo(rest);
    case 'prometheus':
      return (await import('./prometheus/main.js')).runPrometheus(rest);
    case undefined:
    case '-h':
    case '--help':
      console.log(usage);
      return name ? 0 : 2;
    default:
      throw new AmbitError('LAB_UNKNOWN_APP', `unknown built-in app ${JSON.stringify(name)}`, {
        value: name,
        hint: 'one of httpbin, sleep, dns, helloworld, tcp-echo, echo, bookinfo, prometheus',
      });
  }
}

async function runHttpbin(args: string[]): Promise<number> {
  const f = parseFlags(args);
  const log = createLogger('httpbin');
  const port = intFlag(f, 'port', 80);
  const host = f.values.get('host') ?? '0.0.0.0';
  const flavor = f.values.get('flavor') ?? 'python';
  if (flavor !== 'python' && flavor !== 'go') {
    throw new AmbitError(
      'LAB_BAD_FLAG',
      `--flavor must be python or go, got ${JSON.stringify(flavor)}`,
      {
        value: flavor,
      },
    );
  }
  const srv = await startHttpbin({ host, port, log, flavor });
  log.info('listening', { address: `${host}:${srv.port}` });
  await stopSignal();
  await srv.close();
  return 0;
}
