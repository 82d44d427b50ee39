/**
 * The pod streaming subresources (`pods/log`, `pods/exec`, `pods/attach`, `pods/portforward`):
 * the one place where the router hands a request over to whatever serves it (a real API server
 * proxies them to the pod's node kubelet). The router resolves the pod and checks the caller
 * first; a handler gets the request, or the HTTP/1.1 Upgrade (WebSocket, SPDY) with its socket.
 * Until a handler is filled in below, the subresource answers 404 NotFound naming it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../log.js';
import type { Registry } from './registry.js';
import type { Obj } from './store.js';

export const podStreamSubresources = ['log', 'exec', 'attach', 'portforward'] as const;
export type PodStreamSubresource = (typeof podStreamSubresources)[number];

export interface PodStreamContext {
  registry: Registry;
  /** The pod as stored when the request arrived (it exists; 404 is answered before). */
  pod: Obj;
  namespace: string;
  name: string;
  subresource: PodStreamSubresource;
  query: URLSearchParams;
  log: Logger;
}

export interface PodStreamHandler {
  /** A plain request (e.g. `GET pods/log?follow=true`); the handler answers `res`. */
  request?(req: IncomingMessage, res: ServerResponse, ctx: PodStreamContext): Promise<void>;
  /** An HTTP/1.1 Upgrade; the handler owns `socket` (and the bytes in `head`) from here. */
  upgrade?(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    ctx: PodStreamContext,
  ): Promise<void>;
}

/** Filled in by the kubelet side (forwarding to the pod's node kubelet). */
export const podStreamHandlers: Partial<Record<PodStreamSubresource, PodStreamHandler>> = {};

export const isPodStreamSubresource = (s: string | undefined): s is PodStreamSubresource =>
  (podStreamSubresources as readonly string[]).includes(s ?? '');
