/**
 * ztunnel's certificate cache (SecretManager): one certificate per identity of the workloads on
 * this node, fetched on demand or prefetched, refreshed at half-life, retried with per-identity
 * backoff while a still-valid certificate keeps serving. An expired certificate is never
 * handed out.
 */
import { X509Certificate } from 'node:crypto';
import { AmbitError, errorMessage } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import type { IssuedCertificate } from '../xds/types.js';
import type { CertificateSource } from '../hbone/types.js';
import { spiffeIdsOf } from './spiffe.js';
import { Backoff, type BackoffPolicy, CERT_BACKOFF } from './backoff.js';
import { FetchPriority, PrioritySemaphore } from './semaphore.js';

export interface IdentityManagerOptions {
  /** Issues a certificate for `identity` (normally `requestCertificate()` against the CA). */
  fetch: (identity: string) => Promise<IssuedCertificate>;
  log?: Logger;
  /** Concurrent fetches; ztunnel uses 8. */
  concurrency?: number;
  backoff?: BackoffPolicy;
  /** A fetch that has not answered by then counts as failed (and frees its slot); 30 s. */
  fetchTimeoutMs?: number;
  now?: () => number;
}

export type CertState = 'Initializing' | 'Available' | 'Unavailable';

/** One `certificates[]` entry of the admin config dump. */
export interface CertDump {
  identity: string;
  state: string;
  serial?: string;
  validFrom?: string;
  expirationTime?: string;
}

interface Entry {
  identity: string;
  cert?: IssuedCertificate;
  serial?: string;
  lastError?: string;
  inflight?: { result: Promise<IssuedCertificate>; raise: (p: FetchPriority) => void };
  /** Refresh (after success) or retry (after failure). */
  timer?: NodeJS.Timeout;
  retrying: boolean;
  backoff: Backoff;
}

/** Node timers overflow past 2^31-1 ms (~24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Never refresh in a tight loop, even for a certificate already past its half-life. */
const MIN_REFRESH_MS = 250;

export class IdentityManager implements CertificateSource {
  private readonly entries = new Map<string, Entry>();
  private readonly sem: PrioritySemaphore;
  private readonly log: Logger;
  private readonly now: () => number;
  private closed = false;

  constructor(private readonly opts: IdentityManagerOptions) {
    this.log = opts.log ?? createLogger('ztunnel/identity');
    this.sem = new PrioritySemaphore(opts.concurrency ?? 8);
    this.now = opts.now ?? Date.now;
  }

  /** The current certificate of `identity`, fetching it first if there is no valid one. */
  async get(identity: string): Promise<IssuedCertificate> {
    if (this.closed)
      throw new AmbitError('IDENTITY_CLOSED', 'identity manager is closed', { value: identity });
    const e = this.entry(identity);
    if (this.valid(e.cert)) return e.cert;
    if (e.inflight) {
      e.inflight.raise(FetchPriority.RealTime);
      return e.inflight.result;
    }
    if (e.retrying)
      throw new AmbitError(
        'IDENTITY_UNAVAILABLE',
        `no valid certificate for ${identity}: ${e.lastError ?? 'fetch failed'}`,
        { value: identity, hint: 'the CA is unreachable or refused; retrying with backoff' },
      );
    return this.fetch(e, FetchPriority.RealTime);
  }

  /** Starts fetching certificates for identities that have none (workloads new on this node). */
  prefetch(identities: Iterable<string>): void {
    if (this.closed) return;
    for (const id of identities) {
      const e = this.entry(id);
      if (this.valid(e.cert) || e.inflight || e.retrying) continue;
      this.fetch(e, FetchPriority.Warmup).catch(() => undefined);
    }
  }

  /** Drops an identity whose last workload left this node. */
  forget(identity: string): void {
    const e = this.entries.get(identity);
    if (!e) return;
    clearTimeout(e.timer);
    this.entries.delete(identity);
  }

  identities(): string[] {
    return [...this.entries.keys()];
  }

  dump(): CertDump[] {
    return [...this.entries.values()].map((e) => {
      const cert = this.valid(e.cert) ? e.cert : undefined;
      const state = this.state(e);
      return {
        identity: e.identity,
        state: state === 'Unavailable' && e.lastError ? `Unavailable: ${e.lastError}` : state,
        serial: cert ? e.serial : undefined,
        validFrom: cert?.notBefore.toISOString(),
        expirationTime: cert?.notAfter.toISOString(),
      };
    });
  }

  close(): void {
    this.closed = true;
    for (const e of this.entries.values()) clearTimeout(e.timer);
    this.entries.clear();
  }

  private state(e: Entry): CertState {
    if (this.valid(e.cert)) return 'Available';
    return e.lastError ? 'Unavailable' : 'Initializing';
  }

  private valid(cert: IssuedCertificate | undefined): cert is IssuedCertificate {
    return cert !== undefined && this.now() < cert.notAfter.getTime();
  }

  private entry(identity: string): Entry {
    let e = this.entries.get(identity);
    if (!e) {
      e = { identity, retrying: false, backoff: new Backoff(this.opts.backoff ?? CERT_BACKOFF) };
      this.entries.set(identity, e);
    }
    return e;
  }

  private fetch(e: Entry, priority: FetchPriority): Promise<IssuedCertificate> {
    clearTimeout(e.timer);
    e.timer = undefined;
    e.retrying = false;
    const handle = this.sem.run(priority, async () =>
      this.check(e.identity, await this.fetchWithTimeout(e.identity)),
    );
    const result = handle.result.then(
      (checked) => {
        this.onIssued(e, checked.cert, checked.serial);
        return checked.cert;
      },
      (err: unknown) => {
        this.onFailed(e, err);
        throw err;
      },
    );
    e.inflight = { result, raise: handle.raise };
    return result;
  }

  /** A hung CA call must not hold one of the 8 slots (and the identity) forever. */
  private fetchWithTimeout(identity: string): Promise<IssuedCertificate> {
    const ms = this.opts.fetchTimeoutMs ?? 30_000;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new AmbitError('IDENTITY_FETCH_TIMEOUT', `certificate fetch for ${identity} timed out`, {
            value: ms,
            hint: 'is the CA (istiod:15012) reachable?',
          }),
        );
      }, ms);
      Promise.resolve()
        .then(() => this.opts.fetch(identity))
        .then(resolve, reject)
        .finally(() => clearTimeout(timer));
    });
  }

  /** A certificate must name the identity we asked for and be valid now. */
  private check(
    identity: string,
    cert: IssuedCertificate,
  ): { cert: IssuedCertificate; serial: string } {
    const leafPem = cert.certChainPem[0];
    if (!leafPem)
      throw new AmbitError('IDENTITY_BAD_CERT', `empty certificate chain for ${identity}`, {
        value: identity,
      });
    const leaf = new X509Certificate(leafPem);
    const ids = spiffeIdsOf(leaf);
    if (!ids.includes(identity))
      throw new AmbitError(
        'IDENTITY_BAD_CERT',
        `certificate for ${identity} names [${ids.join(', ')}]`,
        {
          value: identity,
          hint: 'the CA issued a certificate for another identity',
        },
      );
    if (this.now() >= cert.notAfter.getTime())
      throw new AmbitError('IDENTITY_BAD_CERT', `certificate for ${identity} is already expired`, {
        value: cert.notAfter.toISOString(),
        hint: 'check the CA clock and the requested TTL',
      });
    return { cert, serial: leaf.serialNumber };
  }

  private onIssued(e: Entry, cert: IssuedCertificate, serial: string): void {
    e.inflight = undefined;
    if (this.entries.get(e.identity) !== e) return; // forgotten meanwhile
    e.cert = cert;
    e.serial = serial;
    e.lastError = undefined;
    e.backoff.reset();
    const nb = cert.notBefore.getTime();
    const refreshAt = nb + (cert.notAfter.getTime() - nb) / 2;
    const delay = Math.min(Math.max(refreshAt - this.now(), MIN_REFRESH_MS), MAX_TIMER_MS);
    this.log.debug('certificate issued', {
      identity: e.identity,
      serial: e.serial,
      refreshInMs: Math.round(delay),
    });
    e.timer = setTimeout(() => this.background(e), delay).unref();
  }

  private onFailed(e: Entry, err: unknown): void {
    e.inflight = undefined;
    if (this.entries.get(e.identity) !== e) return;
    e.lastError = errorMessage(err);
    const delay = e.backoff.delay();
    this.log.warn('certificate fetch failed', {
      identity: e.identity,
      error: e.lastError,
      retryInMs: Math.round(delay),
      keepingValidCert: this.valid(e.cert),
    });
    e.retrying = true;
    e.timer = setTimeout(() => this.background(e), delay).unref();
  }

  private background(e: Entry): void {
    if (this.closed || this.entries.get(e.identity) !== e || e.inflight) return;
    this.fetch(e, FetchPriority.Background).catch(() => undefined);
  }
}
