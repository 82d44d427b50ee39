/**
 * Delta ADS (envoy.service.discovery.v3 DeltaAggregatedResources) over the ResourceStore. Per
 * connection and type it tracks what the client holds (name → version): the first request of a
 * type seeds that from `initial_resource_versions`, and every push sends only the difference
 * (updated resources and removed names) with a fresh nonce. An ACK records the version; a NACK
 * is logged with its error detail and the names of that response are marked as not held, so
 * the client keeps its previous state and the next change resends them.
 */
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { AmbitError, errorMessage } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { DeltaRequest, DeltaResponse, WireNode } from '../../xds/wire.js';
import { bearerToken, type Authenticator, type Caller } from '../auth.js';
import type { ResourceStore } from './store.js';

interface Pending {
  version: string;
  /** Per name sent: what the client held before (undefined = nothing). */
  prev: Map<string, string | undefined>;
}

interface TypeState {
  sent: Map<string, string>;
  /** After a NACK: the next push compares everything, so the refused resources are resent. */
  fullDiff?: boolean;
  pending: Map<string, Pending>;
  lastSent?: { version: string; nonce: string; at: string };
  lastAck?: { version: string; nonce: string; at: string };
  lastNack?: { version: string; nonce: string; message: string; at: string };
}

export interface ConnectionInfo {
  id: string;
  peer: string;
  node: string;
  nodeId: string;
  pod?: string;
  caller?: string;
  connectedAt: string;
  types: Record<string, Omit<TypeState, 'sent' | 'pending'> & { resources: number }>;
}

class Connection {
  node: WireNode | undefined;
  readonly types = new Map<string, TypeState>();
  readonly connectedAt = new Date().toISOString();
  constructor(
    readonly id: string,
    readonly peer: string,
    readonly call: grpc.ServerDuplexStream<DeltaRequest, DeltaResponse>,
    readonly caller: Caller | undefined,
    /** Set for callers that are not trusted accounts (waypoints): what they may receive. */
    readonly scope?: SubscriberScope,
  ) {}

  info(): ConnectionInfo {
    const types: ConnectionInfo['types'] = {};
    for (const [t, s] of this.types)
      types[t] = {
        resources: s.sent.size,
        lastSent: s.lastSent,
        lastAck: s.lastAck,
        lastNack: s.lastNack,
      };
    const md = this.node?.metadata ?? {};
    return {
      id: this.id,
      peer: this.peer,
      node: md.NODE_NAME ?? '',
      nodeId: this.node?.id ?? '',
      pod: md.NAME ? `${md.NAMESPACE ?? ''}/${md.NAME}` : undefined,
      caller: this.caller?.username,
      connectedAt: this.connectedAt,
      types,
    };
  }
}

/**
 * What a non-trusted subscriber (a waypoint) may receive: some types, and of a type only some
 * names (its own config). undefined from `scopeOf` = refused.
 */
export interface SubscriberScope {
  /** e.g. `waypoint default/waypoint`, for logs. */
  label: string;
  allows(typeUrl: string, name?: string): boolean;
}

export interface AdsOptions {
  store: ResourceStore;
  log: Logger;
  /** undefined = no authentication (only for tests on loopback). */
  authenticator?: Authenticator;
  /** `namespace/serviceaccount` allowed to subscribe (default istio-system/ztunnel). */
  trustedAccounts: string[];
  /** Scope for a caller that is not a trusted account; undefined = refused. */
  scopeOf?: (caller: Caller) => SubscriberScope | undefined;
}

export class AdsServer {
  private readonly conns = new Set<Connection>();
  private seq = 0;

  constructor(private readonly opts: AdsOptions) {
    opts.store.on('changed', (typeUrl, _version, names) => {
      for (const c of this.conns) if (c.types.has(typeUrl)) this.push(c, typeUrl, false, names);
    });
  }

  connections(): ConnectionInfo[] {
    return [...this.conns].map((c) => c.info());
  }

  /** The grpc-js handler for DeltaAggregatedResources. */
  readonly handler: grpc.handleBidiStreamingCall<DeltaRequest, DeltaResponse> = (call) => {
    const peer = call.getPeer();
    const queue: DeltaRequest[] = [];
    let conn: Connection | undefined;
    let closed = false;
    call.on('data', (req: DeltaRequest) => {
      if (conn) this.onRequest(conn, req);
      else queue.push(req);
    });
    const close = () => {
      if (closed) return;
      closed = true;
      if (conn) {
        this.conns.delete(conn);
        this.opts.log.info('ztunnel disconnected', { id: conn.id, node: conn.info().node });
      }
    };
    call.on('end', () => {
      close();
      call.end();
    });
    call.on('error', close);
    call.on('cancelled', close);
    call.on('close', close);
    // Who the caller turned out to be, for the refusal log (set once the token verified).
    const who: { caller?: string } = {};
    this.authenticate(call.metadata, who).then(
      ({ caller, scope }) => {
        if (closed) return;
        conn = new Connection(`conn-${++this.seq}`, peer, call, caller, scope);
        this.conns.add(conn);
        for (const req of queue.splice(0)) this.onRequest(conn, req);
      },
      (err: unknown) => {
        this.opts.log.warn('xDS stream refused', {
          peer,
          caller: who.caller ?? 'unauthenticated',
          error: errorMessage(err),
        });
        const code =
          err instanceof AmbitError && err.code === 'CP_PERMISSION_DENIED'
            ? grpc.status.PERMISSION_DENIED
            : grpc.status.UNAUTHENTICATED;
        call.emit('error', { code, details: errorMessage(err) });
      },
    );
  };

  private async authenticate(
    md: grpc.Metadata,
    who: { caller?: string },
  ): Promise<{ caller?: Caller; scope?: SubscriberScope }> {
    if (!this.opts.authenticator) return {};
    const token = bearerToken(md);
    if (!token)
      throw new AmbitError('CP_UNAUTHENTICATED', 'no bearer token in the call metadata', {
        hint: 'send `authorization: Bearer <service-account token>`',
      });
    const caller = await this.opts.authenticator.authenticate(token);
    who.caller = caller.username;
    const account = `${caller.namespace}/${caller.serviceAccount}`;
    if (this.opts.trustedAccounts.includes(account)) return { caller };
    const scope = this.opts.scopeOf?.(caller);
    if (scope) return { caller, scope };
    throw new AmbitError(
      'CP_PERMISSION_DENIED',
      `${caller.username} may not subscribe to xDS; trusted: ${this.opts.trustedAccounts.join(', ')}`,
      { value: account },
    );
  }

  private onRequest(conn: Connection, req: DeltaRequest): void {
    if (req.node && !conn.node) {
      conn.node = req.node;
      this.opts.log.info('ztunnel connected', {
        id: conn.id,
        node: req.node.metadata.NODE_NAME,
        nodeId: req.node.id,
        caller: conn.caller?.username,
      });
    }
    const typeUrl = req.typeUrl;
    if (!this.opts.store.typeUrls.includes(typeUrl)) {
      this.opts.log.warn('request for an unknown type ignored', { id: conn.id, type: typeUrl });
      return;
    }
    if (conn.scope && !conn.scope.allows(typeUrl)) {
      this.opts.log.warn('request for a type outside the subscriber scope ignored', {
        id: conn.id,
        scope: conn.scope.label,
        type: typeUrl,
      });
      return;
    }
    let st = conn.types.get(typeUrl);
    if (!req.responseNonce) {
      // A (re)subscription: the client tells us what it already holds.
      st = { sent: new Map(Object.entries(req.initialResourceVersions)), pending: new Map() };
      conn.types.set(typeUrl, st);
      this.push(conn, typeUrl, true);
      return;
    }
    if (!st) return;
    const pending = st.pending.get(req.responseNonce);
    st.pending.delete(req.responseNonce);
    const at = new Date().toISOString();
    if (req.errorDetail) {
      st.lastNack = {
        version: pending?.version ?? '',
        nonce: req.responseNonce,
        message: req.errorDetail.message,
        at,
      };
      this.opts.log.warn('NACK from ztunnel', {
        id: conn.id,
        node: conn.node?.metadata.NODE_NAME,
        type: typeUrl,
        version: pending?.version,
        nonce: req.responseNonce,
        error: req.errorDetail.message,
      });
      if (pending)
        for (const [name, prev] of pending.prev) {
          if (prev === undefined) st.sent.delete(name);
          else st.sent.set(name, prev);
        }
      st.fullDiff = true;
      return;
    }
    if (pending) st.lastAck = { version: pending.version, nonce: req.responseNonce, at };
  }

  /**
   * Sends a connection what it lacks of a type. With `names` (the store says only those
   * changed) only they are compared — the work per change is proportional to the change, not
   * to the store — unless a NACK asked for a full comparison.
   */
  private push(conn: Connection, typeUrl: string, force: boolean, names?: readonly string[]): void {
    const st = conn.types.get(typeUrl);
    if (!st) return;
    const cur = this.opts.store.get(typeUrl);
    const resources: DeltaResponse['resources'] = [];
    const removed: string[] = [];
    const prev = new Map<string, string | undefined>();
    const scope = conn.scope;
    const allowed = (name: string) => !scope || scope.allows(typeUrl, name);
    if (names && !st.fullDiff) {
      for (const name of names) {
        const r = cur.get(name);
        const had = st.sent.get(name);
        if (r && allowed(name)) {
          if (had === r.version) continue;
          resources.push({ name, version: r.version, value: r.value, entry: r.entry });
          prev.set(name, had);
        } else if (had !== undefined) {
          removed.push(name);
          prev.set(name, had);
        }
      }
    } else {
      st.fullDiff = false;
      for (const r of cur.values()) {
        if (!allowed(r.name)) continue;
        const had = st.sent.get(r.name);
        if (had === r.version) continue;
        resources.push({ name: r.name, version: r.version, value: r.value, entry: r.entry });
        prev.set(r.name, had);
      }
      for (const [name, version] of st.sent) {
        if (cur.has(name) && allowed(name)) continue;
        removed.push(name);
        prev.set(name, version);
      }
    }
    if (!force && resources.length === 0 && removed.length === 0) return;
    for (const r of resources) st.sent.set(r.name, r.version);
    for (const name of removed) st.sent.delete(name);
    const nonce = randomBytes(8).toString('hex');
    const version = this.opts.store.version(typeUrl);
    st.pending.set(nonce, { version, prev });
    if (st.pending.size > 64) st.pending.delete(st.pending.keys().next().value!);
    st.lastSent = { version, nonce, at: new Date().toISOString() };
    this.opts.log.debug('push', {
      id: conn.id,
      type: typeUrl,
      version,
      updated: resources.length,
      removed: removed.length,
    });
    conn.call.write({
      systemVersionInfo: version,
      typeUrl,
      resources,
      removedResources: removed,
      nonce,
    });
  }
}
