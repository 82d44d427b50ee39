/**
 * The generic delta ADS client: one bidirectional stream subscribing to any set of declared
 * resource types (`resource-type.ts`). Every response is decoded completely before anything is
 * applied; a response that fails to decode (or that a subscription's `validate` rejects) is
 * NACKed with the error and the previous state stays in force; an applied one is ACKed with its
 * nonce. On a broken stream it reconnects with backoff and resumes with
 * `initial_resource_versions`, so the server sends only what changed meanwhile.
 */
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { AmbitError, errorMessage } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import type { XdsSubscription, XdsTypeUpdate } from './resource-type.js';
import { bearerMetadata, openChannel } from './transport.js';
import type { XdsClientOptions } from './types.js';
import {
  ADS_PATH,
  encodeDeltaRequest,
  decodeDeltaResponse,
  type DeltaRequest,
  type DeltaResponse,
  type WireNode,
} from './wire.js';

export interface XdsSubscriberOptions extends XdsClientOptions {
  /** The types to subscribe to, in the order their first requests are sent. */
  subscriptions: XdsSubscription<unknown>[];
  /** TLS server name to verify when `address` is an IP without that IP in the certificate. */
  serverName?: string;
  logger?: Logger;
  /**
   * How long a stream may wait for its channel to connect before it is cancelled and the next
   * attempt dials on a new channel (default 5 s). grpc-js sets no connect timeout of its own.
   */
  connectTimeoutMs?: number;
}

const CONNECT_TIMEOUT_MS = 5_000;

export interface XdsSubscriberEvents {
  update: [update: XdsTypeUpdate<unknown>];
  connected: [];
  disconnected: [error: Error | undefined];
}

const INVALID_ARGUMENT = 3;

type Stream = grpc.ClientDuplexStream<DeltaRequest, DeltaResponse>;

export class XdsSubscriber extends EventEmitter<XdsSubscriberEvents> {
  /** Per type: resource name → current value. */
  readonly resources = new Map<string, Map<string, unknown>>();
  /** Per type: resource name → version, sent back as initial_resource_versions on reconnect. */
  readonly versions = new Map<string, Map<string, string>>();
  /** Per type: the last version ACKed. */
  readonly acked = new Map<string, string>();
  lastNack: { typeUrl: string; nonce: string; message: string } | undefined;
  /** gRPC message bytes received over every stream so far (what the control plane pushed). */
  bytesReceived = 0;

  private readonly log: Logger;
  private readonly subs = new Map<string, XdsSubscription<unknown>>();
  private readonly received = new Set<string>();
  private readonly readyWaiters: (() => void)[] = [];
  private channel: grpc.Client | undefined;
  private stream: Stream | undefined;
  private timer: NodeJS.Timeout | undefined;
  private backoffMs = 100;
  private stopped = true;

  constructor(private readonly opts: XdsSubscriberOptions) {
    super();
    this.log = opts.logger ?? createLogger('xds-client');
    for (const s of opts.subscriptions) {
      if (this.subs.has(s.type.typeUrl))
        throw new AmbitError('XDS_DUPLICATE_TYPE', `type ${s.type.typeUrl} subscribed twice`, {
          value: s.type.typeUrl,
          hint: 'declare each resource type once per client',
        });
      this.subs.set(s.type.typeUrl, s);
      this.resources.set(s.type.typeUrl, new Map());
      this.versions.set(s.type.typeUrl, new Map());
    }
  }

  /** Current values of one type, by resource name. */
  of<T>(typeUrl: string): ReadonlyMap<string, T> {
    return (this.resources.get(typeUrl) ?? new Map()) as ReadonlyMap<string, T>;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.channel = openChannel({ ...this.opts, ownSubchannels: true });
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

  /** Resolves once every subscribed type has had its first response applied. */
  ready(): Promise<void> {
    if (this.received.size === this.subs.size) return Promise.resolve();
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
      this.scheduleReconnect();
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
    const channel = this.channel;
    // A SYN sent while kube-proxy rewrites the Service's rules can get a conntrack entry
    // without the DNAT: its retransmits go to a VIP nobody answers, silently, until the kernel
    // gives up (~2 min; a lab ztunnel sat unsynced for 90 s so). A fresh channel dials from a
    // new port. A connected channel waiting for the first response is left alone: that is the
    // control plane authenticating the caller, which may be slow.
    const connectTimer = setTimeout(() => {
      if (connected || this.stream !== stream) return;
      const state = channel.getChannel().getConnectivityState(false);
      if (state === grpc.connectivityState.READY) return;
      this.log.warn('control plane not connected in time; dialling again on a new channel', {
        address: this.opts.address,
        state: grpc.connectivityState[state],
        timeoutMs: this.opts.connectTimeoutMs ?? CONNECT_TIMEOUT_MS,
      });
      stream.cancel();
    }, this.opts.connectTimeoutMs ?? CONNECT_TIMEOUT_MS);
    connectTimer.unref();
    stream.on('data', (res: DeltaResponse) => {
      if (!connected) {
        connected = true;
        clearTimeout(connectTimer);
        this.backoffMs = 100;
        this.emit('connected');
      }
      this.onResponse(stream, res);
    });
    const onGone = (err?: Error) => {
      clearTimeout(connectTimer);
      if (this.stream !== stream) return;
      this.stream = undefined;
      if (this.stopped) return;
      this.log.info('xDS stream closed', { address: this.opts.address, error: err?.message });
      // A stream that never got a response ends on a channel that may stay failed: grpc-js
      // answers later calls with the last connect error (ECONNREFUSED from before the
      // control plane's Service had endpoints) without dialling again, seen for 2.5 min in a
      // lab. The next attempt gets a new channel, so it really dials.
      if (!connected) this.reopenChannel();
      this.emit('disconnected', err);
      this.scheduleReconnect();
    };
    stream.on('error', (err: Error) => onGone(err));
    stream.on('end', () => onGone(undefined));
    const node = this.node();
    for (const typeUrl of this.subs.keys()) {
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

  private reopenChannel(): void {
    this.channel?.close();
    this.channel = openChannel({ ...this.opts, ownSubchannels: true });
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, 15_000);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  private decode(res: DeltaResponse): { sub: XdsSubscription<unknown>; u: XdsTypeUpdate<unknown> } {
    const sub = this.subs.get(res.typeUrl);
    if (!sub)
      throw new AmbitError('XDS_UNKNOWN_TYPE', `unknown type ${res.typeUrl}`, {
        value: res.typeUrl,
        hint: `this client subscribed to ${[...this.subs.keys()].join(', ')}`,
      });
    const added = res.resources.map((r) => {
      const v = sub.type.decode(r.value, r.name);
      const name = sub.type.name(v);
      if (name !== r.name)
        throw new AmbitError('XDS_WRONG_NAME', `resource ${r.name} holds ${name}`, {
          value: r.name,
          hint: 'the control plane named a resource after something else; a control-plane bug',
        });
      return v;
    });
    const u = {
      typeUrl: res.typeUrl,
      version: res.systemVersionInfo,
      added,
      removed: res.removedResources,
    };
    sub.validate?.(u);
    return { sub, u };
  }

  private ack(stream: Stream, res: DeltaResponse, errorDetail?: string): void {
    stream.write({
      typeUrl: res.typeUrl,
      resourceNamesSubscribe: [],
      resourceNamesUnsubscribe: [],
      initialResourceVersions: {},
      responseNonce: res.nonce,
      ...(errorDetail === undefined
        ? {}
        : { errorDetail: { code: INVALID_ARGUMENT, message: errorDetail } }),
    });
  }

  private onResponse(stream: Stream, res: DeltaResponse): void {
    let decoded: ReturnType<XdsSubscriber['decode']>;
    try {
      decoded = this.decode(res);
    } catch (err) {
      const message = errorMessage(err);
      this.lastNack = { typeUrl: res.typeUrl, nonce: res.nonce, message };
      this.log.warn('NACK: rejected a control-plane response; keeping the previous state', {
        type: res.typeUrl,
        version: res.systemVersionInfo,
        nonce: res.nonce,
        error: message,
      });
      this.ack(stream, res, message);
      return;
    }
    const { sub, u } = decoded;
    const values = this.resources.get(res.typeUrl)!;
    const versions = this.versions.get(res.typeUrl)!;
    for (const name of u.removed) {
      values.delete(name);
      versions.delete(name);
    }
    for (const v of u.added) values.set(sub.type.name(v), v);
    for (const r of res.resources) versions.set(r.name, r.version);
    this.acked.set(res.typeUrl, res.systemVersionInfo);
    this.ack(stream, res);
    this.log.debug('applied', {
      type: res.typeUrl,
      version: res.systemVersionInfo,
      updated: res.resources.length,
      removed: res.removedResources.length,
    });
    sub.onUpdate?.(u);
    this.emit('update', u);
    if (!this.received.has(res.typeUrl)) {
      this.received.add(res.typeUrl);
      if (this.received.size === this.subs.size) for (const r of this.readyWaiters.splice(0)) r();
    }
  }
}
