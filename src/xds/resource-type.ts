/**
 * An xDS resource type as a declaration: what the generic delta client (`subscriber.ts`) and the
 * control plane's store (`src/controlplane/xds/`) need to carry it. Adding a type — the
 * waypoint's routes or L7 policies — is one of these, not a fork of the client or the server.
 */

export interface XdsResourceType<T> {
  /** e.g. `type.googleapis.com/istio.workload.Address`. */
  typeUrl: string;
  /** Wire bytes → value. Throw (ideally `AmbitError('XDS_DECODE_FAILED', …)`) to NACK. */
  decode(value: Uint8Array, name: string): T;
  /** Value → wire bytes (the server side; the store versions resources by these bytes). */
  encode(value: T): Uint8Array;
  /** The resource name of a value; a received resource must carry this name. */
  name(value: T): string;
}

/** One applied response of one type: `removed` holds resource names. */
export interface XdsTypeUpdate<T> {
  typeUrl: string;
  /** The server's version of the whole type after this response. */
  version: string;
  added: T[];
  removed: string[];
}

/** A type a client subscribes to, with what to do with its updates. */
export interface XdsSubscription<T> {
  type: XdsResourceType<T>;
  /** Extra semantic check of a decoded update; throwing NACKs the response. */
  validate?(update: XdsTypeUpdate<T>): void;
  /** Called once per applied (ACKed) response, after the client's own copy was updated. */
  onUpdate?(update: XdsTypeUpdate<T>): void;
}

/** Declares a subscription with its value type inferred (an array of them may mix types). */
export function subscribe<T>(
  type: XdsResourceType<T>,
  handlers: Omit<XdsSubscription<T>, 'type'> = {},
): XdsSubscription<unknown> {
  return { type, ...handlers } as XdsSubscription<unknown>;
}
