/**
 * From a routed request to what gets sent: the rule's and the chosen backend's filters applied
 * in order (header modifiers, URL rewrite, mirror), or the redirect/500 that answers instead.
 */
import type { HttpFilter, RouteBackend, ServicePortRef } from '../../api/waypoint-config.js';
import { type HeaderMap, modifyHeaders, redirectTarget, rewritePath } from '../routing/filters.js';
import { pickBackend } from '../routing/select.js';
import type { CompiledRule } from '../routing/table.js';

export interface Plan {
  kind: 'forward';
  backend: ServicePortRef;
  path: string;
  authority: string;
  headers: HeaderMap;
  responseModifiers: NonNullable<
    Extract<HttpFilter, { type: 'ResponseHeaderModifier' }>['responseHeaderModifier']
  >[];
  mirrors: Extract<HttpFilter, { type: 'RequestMirror' }>['requestMirror'][];
}

export type PlanResult =
  | Plan
  | { kind: 'redirect'; status: number; location: string }
  | { kind: 'error'; status: number; details: string };

export interface PlanInput {
  rule: CompiledRule;
  /** Path (normalized) and query of the request. */
  path: string;
  query: string;
  authority: string;
  headers: HeaderMap;
  servicePort: number;
  matchedPrefix?: string;
  random?: () => number;
}

function hostOf(authority: string): string {
  return authority.replace(/:\d+$/, '');
}

function applyFilters(filters: HttpFilter[], p: Plan, input: PlanInput): PlanResult | undefined {
  for (const f of filters) {
    switch (f.type) {
      case 'RequestHeaderModifier':
        modifyHeaders(p.headers, f.requestHeaderModifier);
        break;
      case 'ResponseHeaderModifier':
        p.responseModifiers.push(f.responseHeaderModifier);
        break;
      case 'URLRewrite': {
        const u = f.urlRewrite;
        if (u.path) p.path = rewritePath(input.path, u.path, input.matchedPrefix);
        if (u.hostname) p.authority = u.hostname;
        break;
      }
      case 'RequestMirror':
        p.mirrors.push(f.requestMirror);
        break;
      case 'RequestRedirect': {
        const r = redirectTarget(f.requestRedirect, {
          scheme: 'http',
          host: hostOf(input.authority),
          port: input.servicePort,
          path: input.path,
          query: input.query,
          matchedPrefix: input.matchedPrefix,
        });
        return { kind: 'redirect', ...r };
      }
    }
  }
  return undefined;
}

export function planRequest(input: PlanInput): PlanResult {
  const plan: Plan = {
    kind: 'forward',
    backend: { service: '', port: 0 },
    path: input.path,
    authority: input.authority,
    headers: { ...input.headers },
    responseModifiers: [],
    mirrors: [],
  };
  const early = applyFilters(input.rule.filters, plan, input);
  if (early) return early;
  if (input.rule.backends.length === 0)
    return { kind: 'error', status: 500, details: 'no_backends' };
  const b: RouteBackend | undefined = pickBackend(input.rule.backends, input.random);
  if (!b) return { kind: 'error', status: 500, details: 'all_backends_zero_weight' };
  if (b.kind === 'invalid')
    return { kind: 'error', status: 500, details: `invalid_backend{${b.reason}}` };
  plan.backend = { service: b.service, port: b.port };
  const late = applyFilters(b.filters ?? [], plan, input);
  if (late) return late;
  if (input.query) plan.path = `${plan.path}?${input.query}`;
  return plan;
}
