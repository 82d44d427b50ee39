/**
 * Plain HTTP GET from inside a named network namespace (`ip netns exec <ns> curl`), for debug
 * endpoints that listen only inside a pod's network (e.g. the control plane's :15014).
 */
import { AmbitError } from '../errors.js';
import { run } from './exec.js';

export async function httpGetInNetns(
  netns: string,
  url: string,
  timeoutMs = 5000,
): Promise<string> {
  if (!/^[A-Za-z0-9_.-]+$/.test(netns))
    throw new AmbitError(
      'SYS_BAD_NETNS',
      `not a network namespace name: ${JSON.stringify(netns)}`,
      {
        value: netns,
      },
    );
  const r = await run(
    'curl',
    ['-sS', '--max-time', String(Math.ceil(timeoutMs / 1000)), '-w', '\n%{http_code}', url],
    { netns, allowFail: true, timeoutMs: timeoutMs + 2000 },
  );
  const nl = r.stdout.lastIndexOf('\n');
  const status = Number(r.stdout.slice(nl + 1));
  const body = r.stdout.slice(0, Math.max(nl, 0));
  if (r.code !== 0 || status < 200 || status >= 300)
    throw new AmbitError(
      'SYS_NETNS_HTTP_FAILED',
      `GET ${url} in netns ${netns} failed: ${r.stderr.trim() || `HTTP ${status}`}`,
      {
        value: url,
        hint: 'is the process listening in that namespace? (needs root for ip netns exec)',
      },
    );
  return body;
}
