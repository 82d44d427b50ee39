/**
 * One structured line per finished connection, on stdout (ztunnel's `access` target):
 * `<time> info access connection complete src.addr=… dst.addr=… bytes_sent=… …`.
 */
import { createLogger } from '../log.js';
import type { Logger } from '../log.js';

export interface AccessRecord {
  /** The connection's id, shared by every log line about it (`connectionId()`). */
  conn?: string;
  direction: 'outbound' | 'inbound' | 'inbound_plaintext';
  srcAddr: string;
  srcWorkload?: string;
  srcNamespace?: string;
  srcIdentity?: string;
  dstAddr: string;
  dstHboneAddr?: string;
  dstService?: string;
  dstWorkload?: string;
  dstNamespace?: string;
  dstIdentity?: string;
  /** Bytes toward the server (request direction). */
  bytesSent: number;
  /** Bytes back to the client. */
  bytesRecv: number;
  durationMs: number;
  error?: string;
}

export type AccessSink = (line: string) => void;

export class AccessLog {
  private readonly log: Logger;

  constructor(sink: AccessSink = (l) => process.stdout.write(l + '\n')) {
    this.log = createLogger('access', sink);
  }

  write(r: AccessRecord): void {
    const fields: Record<string, unknown> = {
      conn: r.conn,
      'src.addr': r.srcAddr,
      'src.workload': r.srcWorkload,
      'src.namespace': r.srcNamespace,
      'src.identity': r.srcIdentity,
      'dst.addr': r.dstAddr,
      'dst.hbone_addr': r.dstHboneAddr,
      'dst.service': r.dstService,
      'dst.workload': r.dstWorkload,
      'dst.namespace': r.dstNamespace,
      'dst.identity': r.dstIdentity,
      direction: r.direction,
      bytes_sent: r.bytesSent,
      bytes_recv: r.bytesRecv,
      duration: `${r.durationMs}ms`,
      error: r.error,
    };
    if (r.error) this.log.error('connection complete', fields);
    else this.log.info('connection complete', fields);
  }
}
