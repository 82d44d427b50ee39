/**
 * The workload delta ADS client (what ztunnel runs): the generic subscriber (`subscriber.ts`)
 * declared with workload Addresses and Authorizations, presenting each applied response as an
 * `XdsDelta` and the current state as two maps.
 */
import { EventEmitter } from 'node:events';
import { TYPE_ADDRESS, type Address, type Authorization } from '../api/workload.js';
import type { Logger } from '../log.js';
import { subscribe, type XdsTypeUpdate } from './resource-type.js';
import { XdsSubscriber } from './subscriber.js';
import type { XdsClient, XdsClientEvents, XdsClientOptions, XdsDelta } from './types.js';
import { ADDRESS_TYPE, AUTHORIZATION_TYPE } from './workload-types.js';

export interface DeltaXdsClientOptions extends XdsClientOptions {
  /** TLS server name to verify when `address` is an IP without that IP in the certificate. */
  serverName?: string;
  /** Extra semantic check of a decoded change; throwing NACKs the response. */
  validate?: (delta: XdsDelta) => void;
  logger?: Logger;
  /** See XdsSubscriberOptions.connectTimeoutMs. */
  connectTimeoutMs?: number;
}

function toDelta(u: XdsTypeUpdate<unknown>): XdsDelta {
  const delta: XdsDelta = { typeUrl: u.typeUrl, version: u.version };
  if (u.typeUrl === TYPE_ADDRESS)
    delta.addresses = { added: u.added as Address[], removed: u.removed };
  else delta.authorizations = { added: u.added as Authorization[], removed: u.removed };
  return delta;
}

export class DeltaXdsClient extends EventEmitter<XdsClientEvents> implements XdsClient {
  readonly subscriber: XdsSubscriber;

  constructor(opts: DeltaXdsClientOptions) {
    super();
    const validate = opts.validate && ((u: XdsTypeUpdate<unknown>) => opts.validate!(toDelta(u)));
    this.subscriber = new XdsSubscriber({
      ...opts,
      subscriptions: [
        subscribe(ADDRESS_TYPE, { validate }),
        subscribe(AUTHORIZATION_TYPE, { validate }),
      ],
    });
    this.subscriber.on('update', (u) => this.emit('delta', toDelta(u)));
    this.subscriber.on('connected', () => this.emit('connected'));
    this.subscriber.on('disconnected', (e) => this.emit('disconnected', e));
  }

  get addresses(): ReadonlyMap<string, Address> {
    return this.subscriber.of<Address>(ADDRESS_TYPE.typeUrl);
  }
  get authorizations(): ReadonlyMap<string, Authorization> {
    return this.subscriber.of<Authorization>(AUTHORIZATION_TYPE.typeUrl);
  }
  get versions(): Map<string, Map<string, string>> {
    return this.subscriber.versions;
  }
  get acked(): Map<string, string> {
    return this.subscriber.acked;
  }
  get lastNack(): XdsSubscriber['lastNack'] {
    return this.subscriber.lastNack;
  }
  get bytesReceived(): number {
    return this.subscriber.bytesReceived;
  }

  start(): void {
    this.subscriber.start();
  }
  stop(): Promise<void> {
    return this.subscriber.stop();
  }
  ready(): Promise<void> {
    return this.subscriber.ready();
  }
}

/** Creates (does not start) a delta ADS client; call start(). */
export function createXdsClient(opts: DeltaXdsClientOptions): DeltaXdsClient {
  return new DeltaXdsClient(opts);
}
