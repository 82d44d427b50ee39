/**
 * Gateway API HTTPRoute, GRPCRoute and TCPRoute (gateway.networking.k8s.io/v1) and
 * ReferenceGrant (v1beta1) as the control plane reads them: field names are the API's; only
 * what the translation uses is typed.
 */
import type { KubeObject } from '../../k8s/types.js';
import type { Condition } from './condition.js';

export interface ParentRef {
  group?: string;
  kind?: string;
  namespace?: string;
  name: string;
  sectionName?: string;
  port?: number;
}

export interface BackendRef {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
  port?: number;
  weight?: number;
  filters?: HTTPRouteFilter[];
}

export interface HeaderMatch {
  type?: 'Exact' | 'RegularExpression';
  name: string;
  value: string;
}

export interface HTTPRouteMatch {
  path?: { type?: 'Exact' | 'PathPrefix' | 'RegularExpression'; value?: string };
  headers?: HeaderMatch[];
  queryParams?: HeaderMatch[];
  method?: string;
}

export interface HeaderModifier {
  set?: { name: string; value: string }[];
  add?: { name: string; value: string }[];
  remove?: string[];
}

export interface PathModifier {
  type: 'ReplaceFullPath' | 'ReplacePrefixMatch';
  replaceFullPath?: string;
  replacePrefixMatch?: string;
}

export interface HTTPRouteFilter {
  type: string;
  requestHeaderModifier?: HeaderModifier;
  responseHeaderModifier?: HeaderModifier;
  requestRedirect?: {
    scheme?: string;
    hostname?: string;
    path?: PathModifier;
    port?: number;
    statusCode?: number;
  };
  urlRewrite?: { hostname?: string; path?: PathModifier };
  requestMirror?: {
    backendRef: BackendRef;
    percent?: number;
    fraction?: { numerator: number; denominator?: number };
  };
  extensionRef?: unknown;
}

export interface HTTPRouteRule {
  name?: string;
  matches?: HTTPRouteMatch[];
  filters?: HTTPRouteFilter[];
  backendRefs?: BackendRef[];
  timeouts?: { request?: string; backendRequest?: string };
  retry?: { codes?: number[]; attempts?: number; backoff?: string };
}

export interface RouteParentStatus {
  parentRef: ParentRef;
  controllerName: string;
  conditions: Condition[];
}

export interface RouteStatus {
  parents?: RouteParentStatus[];
}

export interface HTTPRouteSpec {
  parentRefs?: ParentRef[];
  hostnames?: string[];
  rules?: HTTPRouteRule[];
}

export type HTTPRoute = KubeObject<HTTPRouteSpec, RouteStatus>;

export interface GRPCMethodMatch {
  type?: 'Exact' | 'RegularExpression';
  service?: string;
  method?: string;
}

export interface GRPCRouteMatch {
  method?: GRPCMethodMatch;
  headers?: HeaderMatch[];
}

export interface GRPCRouteRule {
  name?: string;
  matches?: GRPCRouteMatch[];
  filters?: HTTPRouteFilter[];
  backendRefs?: BackendRef[];
}

export interface GRPCRouteSpec {
  parentRefs?: ParentRef[];
  hostnames?: string[];
  rules?: GRPCRouteRule[];
}

export type GRPCRoute = KubeObject<GRPCRouteSpec, RouteStatus>;

/** TCPRoute: no matches; the API allows one rule (v1alpha2 allowed up to 16: the first counts). */
export interface TCPRouteSpec {
  parentRefs?: ParentRef[];
  rules?: { name?: string; backendRefs?: BackendRef[] }[];
}

export type TCPRoute = KubeObject<TCPRouteSpec, RouteStatus>;

/**
 * ReferenceGrant: which kinds in which namespaces (`from`) may refer to which objects of this
 * grant's namespace (`to`, all of a kind when `name` is absent). Group `""` is the core group.
 */
export interface ReferenceGrantSpec {
  from?: { group: string; kind: string; namespace: string }[];
  to?: { group: string; kind: string; name?: string }[];
}

export type ReferenceGrant = KubeObject<ReferenceGrantSpec>;
