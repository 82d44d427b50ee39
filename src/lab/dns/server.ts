/**
 * The cluster DNS's server: `answerQuery` over the current service index, on the UDP and TCP
 * sockets of src/dns (which also reads each query and answers the malformed ones).
 */
import { serveDns, type DnsServer } from '../../dns/server.js';
import { rcodeOf } from '../../dns/message.js';
import type { Logger } from '../../log.js';
import { answerQuery, type ServiceIndex } from './answer.js';

export type { DnsServer };

export function startDnsServer(opts: {
  host?: string;
  port?: number;
  index: () => ServiceIndex;
  log?: Logger;
}): Promise<DnsServer> {
  const log = opts.log;
  return serveDns({
    host: opts.host ?? '0.0.0.0',
    port: opts.port ?? 53,
    log,
    answer: (q, _raw, client) => {
      const resp = answerQuery(q, opts.index());
      log?.debug('query', {
        from: `${client.address}:${client.port}`,
        name: q.question.name,
        type: q.question.type,
        rcode: rcodeOf(resp),
        answers: resp.answers?.length,
      });
      return resp;
    },
  });
}
