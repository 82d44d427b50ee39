/**
 * The delta ADS client (what ztunnel runs): one bidirectional stream subscribing to workload
 * Addresses and Authorizations. Every response is decoded completely before anything is applied;
 * a response that fails to decode (or that `validate` rejects) is NACKed with the error and the
 * previous state stays in force. On a broken stream it reconnects with backoff and resumes with
 * `initial_resource_versions`, so the server sends only what changed meanwhile.
 */
import { EventEmitter } from 'node:events';
import type * as grpc from '@grpc/grpc-js';
import {
  TYPE_ADDRESS,
  TYPE_AUTHORIZATION,
  addressResourceName,
  authorizationResourceName,
  type Address,
  type Authorization,
} from '../api/workload.js';
import { AmbitError, errorMessage } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { decodeAddress, decodeAuthorization } from './codec.js';
import { bearerMetadata, openChannel } from './transport.js';
import type { XdsClient, XdsClientEvents, XdsClientOptions, XdsDelta } from './types.js';
import {
  ADS_PATH,
  encodeDeltaRequest,
  decodeDeltaResponse,
  type DeltaRequest,
  type DeltaResponse,
  type WireNode,
} from './wire.js';

export interface DeltaXdsClientOptions extends XdsClientOptions {
  /** TLS server name to verify when `address` is an IP without that IP in the certificate. */
  serverName?: string;
  /** Extra semantic check of a decoded change; throwing NACKs the response. */
  validate?: (delta: XdsDelta) => void;
  logger?: Logger;
}

const TYPES = [TYPE_ADDRESS, TYPE_AUTHORIZATION] as const;
const INVALID_ARGUMENT = 3;

type Stream = grpc.ClientDuplexStream<DeltaRequest, DeltaResponse>;

function wrongName(name: string, holds: string): AmbitError {
  return new AmbitError('XDS_WRONG_NAME', `resource ${name} holds ${holds}`, {
    value: name,
    hint: 'the control plane named a resource after something else; a control-plane bug',
  });
}

export class DeltaXdsClient extends EventEmitter<XdsClientEvents> implements XdsClient {
  readonly addresses = new Map<string, Address>();
  readonly authorizations = new Map<string, Authorization>();
  /** Per type: resource name → version, sent back as initial_resource_versions on reconnect. */
  readonly versions = new Map<string, Map<string, string>>(TYPES.map((t) => [t, new Map()]));
  /** Per type: the last version ACKed. */
  readonly acked = new Map<string, string>();
  lastNack: { typeUrl: string; nonce: string; message: string } | undefined;
  /** gRPC message bytes received over every stream so far (what the control plane pushed). */
  bytesReceived = 0;

  private readonly log: Logger;
  private readonly received = new Set<string>();
  private readonly readyWaiters: (() => void)[] = [];
  private channel: grpc.Client | undefined;
  private stream: Stream | undefined;
  private timer: NodeJS.Timeout | undefined;
  private backoffMs = 100;
  private stopped = true;

  constructor(private readonly opts: DeltaXdsClientOptions) {
    super();
    this.log = opts.logger ?? createLogger('xds-client');
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.channel = openChannel(this.opts);
    this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const s = this.stream;
    this.stream = undefined;
    s?.cancel();
    this.channel?.close();
    this.channel = undefined;
    await Promise.resolve();
  }

  ready(): Promise<void> {
    if (this.received.size === TYPES.length) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  private node(): WireNode {
    const n = this.opts.node;
    const metadata: Record<string, string> = { NODE_NAME: n.nodeName };
    if (n.podName) metadata.NAME = n.podName;
    if (n.podNamespace) metadata.NAMESPACE = n.podNamespace;
    if (n.podIp) metadata.INSTANCE_IPS = n.podIp;
    return { id: n.id, cluster: 'Kubernetes', metadata };
  }

  private connect(): void {
    if (this.stopped || !this.channel) return;
    let md: grpc.Metadata;
    try {
      md = bearerMetadata(this.opts.tokenFile);
    } catch (err) {
      this.log.warn('cannot authenticate to the control plane', { error: errorMessage(err) });
      this.scheduleReconnect(err as Error);
      return;
    }
    const stream = this.channel.makeBidiStreamRequest<DeltaRequest, DeltaResponse>(
      ADS_PATH,
      encodeDeltaRequest,
      (buf: Buffer) => {
        this.bytesReceived += buf.length;
        return decodeDeltaResponse(buf);
      },
      md,
    );
    this.stream = stream;
    let connected = false;
    stream.on('data', (res: DeltaResponse) => {
      if (!connected) {
        connected = true;
        this.backoffMs = 100;
        this.emit('connected');
      }
      this.onResponse(stream, res);
    });
    const onGone = (err?: Error) => {
      if (this.stream !== stream) return;
      this.stream = undefined;
      if (this.stopped) return;
      this.log.info('xDS stream closed', { address: this.opts.address, error: err?.message });
      this.emit('disconnected', err);
      this.scheduleReconnect(err);
    };
    stream.on('error', (err: Error) => onGone(err));
    stream.on('end', () => onGone(undefined));
    const node = this.node();
    for (const typeUrl of TYPES) {
      stream.write({
        node,
        typeUrl,
        resourceNamesSubscribe: [],
        resourceNamesUnsubscribe: [],
        initialResourceVersions: Object.fromEntries(this.versions.get(typeUrl) ?? []),
        responseNonce: '',
      });
    }
  }

  private scheduleReconnect(_err: Error | undefined): void {
    if (this.stopped) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, 15_000);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  private decode(res: DeltaResponse): XdsDelta {
    const delta: XdsDelta = { typeUrl: res.typeUrl, version: res.systemVersionInfo };
    if (res.typeUrl === TYPE_ADDRESS) {
      const added = res.resources.map((r) => {
        const a = decodeAddress(r.value, r.name);
        if (addressResourceName(a) !== r.name) throw wrongName(r.name, addressResourceName(a));
        return a;
      });
      delta.addresses = { added, removed: res.removedResources };
    } else if (res.typeUrl === TYPE_AUTHORIZATION) {
      const added = res.resources.map((r) => {
        const p = decodeAuthorization(r.value, r.name);
        if (authorizationResourceName(p) !== r.name)
          throw wrongName(r.name, authorizationResourceName(p));
        return p;
      });
      delta.authorizations = { added, removed: res.removedResources };
    } else {
      throw new AmbitError('XDS_UNKNOWN_TYPE', `unknown resource type ${res.typeUrl}`, {
        value: res.typeUrl,
        hint: 'the client subscribes to Address and Authorization only',
      });
    }
    this.opts.validate?.(delta);
    return delta;
  }

  private onResponse(stream: Stream, res: DeltaResponse): void {
    let delta: XdsDelta;
    try {
      delta = this.decode(res);
    } catch (err) {
      const message = errorMessage(err);
      this.lastNack = { typeUrl: res.typeUrl, nonce: res.nonce, message };
      this.log.warn('NACK: rejected a control-plane response; keeping the previous state', {
        type: res.typeUrl,
        version: res.systemVersionInfo,
        nonce: res.nonce,
        error: message,
      });
      stream.write({
        typeUrl: res.typeUrl,
        resourceNamesSubscribe: [],
        resourceNamesUnsubscribe: [],
        initialResourceVersions: {},
        responseNonce: res.nonce,
        errorDetail: { code: INVALID_ARGUMENT, message },
      });
      return;
    }
    const versions = this.versions.get(res.typeUrl)!;
    if (delta.addresses) {
      for (const name of delta.addresses.removed) this.addresses.delete(name);
      for (const a of delta.addresses.added) this.addresses.set(addressResourceName(a), a);
    }
    if (delta.authorizations) {
      for (const name of delta.authorizations.removed) this.authorizations.delete(name);
      for (const p of delta.authorizations.added)
        this.authorizations.set(authorizationResourceName(p), p);
    }
    for (const name of res.removedResources) versions.delete(name);
    for (const r of res.resources) versions.set(r.name, r.version);
    this.acked.set(res.typeUrl, res.systemVersionInfo);
    stream.write({
      typeUrl: res.typeUrl,
      resourceNamesSubscribe: [],
      resourceNamesUnsubscribe: [],
      initialResourceVersions: {},
      responseNonce: res.nonce,
    });
    this.log.debug('applied', {
      type: res.typeUrl,
      version: res.systemVersionInfo,
      updated: res.resources.length,
      removed: res.removedResources.length,
    });
    this.emit('delta', delta);
    if (!this.received.has(res.typeUrl)) {
      this.received.add(res.typeUrl);
      if (this.received.size === TYPES.length) for (const r of this.readyWaiters.splice(0)) r();
    }
  }
}

/** Creates (does not start) a delta ADS client; call start(). */
export function createXdsClient(opts: DeltaXdsClientOptions): DeltaXdsClient {
  return new DeltaXdsClient(opts);
}
