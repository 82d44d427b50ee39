/**
 * The per-request pipeline on a waypoint (waypoint.md §2.3): authorization (DENY, then ALLOW),
 * route choice, filters, backend and endpoint choice, the upstream exchange with retries and
 * timeouts, mirrors, then metrics and one access-log line.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { WaypointService, WorkloadFacts } from '../../api/waypoint-config.js';
import { errorMessage } from '../../errors.js';
import type { AuthzAttributes } from '../authz/attributes.js';
import { authorize } from '../authz/evaluate.js';
import type { Exchange } from '../http/exchange.js';
import { first, isGrpc, joined } from '../http/headers.js';
import { type HeaderMap, modifyHeaders } from '../routing/filters.js';
import { normalizePath, splitTarget } from '../routing/request.js';
import { selectIngressRoute } from '../ingress/select.js';
import { selectRoute } from '../routing/select.js';
import { type CompiledRule, tableKey } from '../routing/table.js';
import { formatAccessLog } from '../telemetry/access-log.js';
import { startSpan, traceparentOf } from '../telemetry/trace.js';
import { AttemptError } from './attempt.js';
import { RequestBody } from './body.js';
import { Cancel } from './cancel.js';
import type { ConnContext, ProxyDeps } from './context.js';
import { DEFAULT_RETRY, type ForwardResult, forward } from './forward.js';
import { localReply } from './local-reply.js';
import { planRequest, type Plan } from './request-plan.js';

interface Outcome {
  status: number;
  flags: string;
  details: string;
  route?: string;
  backend?: WaypointService;
  endpoint?: WorkloadFacts;
  upstreamHost?: string;
  upstreamMs?: number;
  grpcStatus?: string;
}

function lastXff(h: HeaderMap): string | undefined {
  const v = first(h, 'x-forwarded-for');
  return v?.split(',').at(-1)?.trim() || undefined;
}

/** The destination as a route target: a served service port, or a workload's own port. */
function defaultRule(key: string, port: number): CompiledRule {
  return {
    routeKind: 'HTTPRoute',
    routeKey: '',
    ruleIndex: 0,
    filters: [],
    backends: [{ kind: 'service', service: key, port, weight: 1 }],
  };
}

function workloadService(ctx: ConnContext): WaypointService | undefined {
  if (ctx.dest.kind !== 'workload') return undefined;
  const w = ctx.dest.workload;
  return {
    name: w.name,
    namespace: w.namespace,
    hostname: '',
    vips: [],
    ports: [],
    serves: true,
    endpoints: [
      {
        ...w,
        address: ctx.dest.ip,
        targetPorts: [{ servicePort: ctx.dest.port, targetPort: ctx.dest.port }],
        healthy: true,
      },
    ],
  };
}

function upstreamProtocol(
  svc: WaypointService | undefined,
  port: number,
  x: Exchange,
): 'h1' | 'h2' {
  let p: string | undefined;
  for (const sp of svc?.ports ?? []) if (sp.port === port) p ??= sp.protocol;
  if (p === 'HTTP') return 'h1';
  if (p === 'HTTP2' || p === 'GRPC') return 'h2';
  return x.protocol === 'HTTP/2' ? 'h2' : 'h1';
}

export function handleExchange(deps: ProxyDeps, ctx: ConnContext, x: Exchange): void {
  const start = new Date();
  const t0 = performance.now();
  const grpc = isGrpc(x.headers);
  const span = startSpan(first(x.headers, 'traceparent'));
  const requestId = first(x.headers, 'x-request-id') ?? randomUUID();
  const body = new RequestBody(x.body, undefined, x.emptyBody);
  const cfg = deps.config();
  const destKey =
    ctx.dest.kind === 'service'
      ? `${ctx.dest.service.namespace}/${ctx.dest.service.hostname}`
      : undefined;
  const source = cfg?.peers.get(ctx.clientIp);
  const outcome: Outcome = { status: 0, flags: '-', details: 'via_upstream' };
  let finished = false;

  const controller = new Cancel();
  x.onDone(() => {
    if (!finished) controller.abort(new AttemptError('cancelled', 'downstream went away'));
    record();
  });

  let recorded = false;
  const record = () => {
    if (recorded) return;
    recorded = true;
    const durationMs = performance.now() - t0;
    if (outcome.status === 0) outcome.status = x.responded ? 200 : 0;
    deps.metrics.recordRequest({
      source,
      sourcePrincipal: ctx.peerPrincipal,
      destination: outcome.endpoint,
      service: outcome.backend
        ? {
            hostname: outcome.backend.hostname,
            name: outcome.backend.name,
            namespace: outcome.backend.namespace,
          }
        : undefined,
      protocol: grpc ? 'grpc' : 'http',
      status: outcome.status,
      grpcStatus: outcome.grpcStatus,
      flags: outcome.flags,
      durationMs,
      requestBytes: body.bytes,
      responseBytes: x.bytesOut(),
    });
    deps.accessLog(
      formatAccessLog({
        start,
        method: x.method,
        path: x.target,
        protocol: x.protocol,
        status: outcome.status,
        flags: outcome.flags,
        details: outcome.details,
        bytesReceived: body.bytes,
        bytesSent: x.bytesOut(),
        durationMs,
        upstreamMs: outcome.upstreamMs,
        xff: first(x.headers, 'x-forwarded-for'),
        userAgent: first(x.headers, 'user-agent'),
        requestId,
        authority: x.authority,
        upstreamHost: outcome.upstreamHost,
        upstreamCluster: outcome.backend
          ? `inbound-vip|${ctx.dest.port}|${grpc ? 'http' : 'http'}|${outcome.backend.hostname}`
          : undefined,
        downstreamLocal: ctx.authority,
        downstreamRemote: ctx.clientIp,
        route: outcome.route,
        traceId: span.traceId,
        spanId: span.spanId,
        sourcePrincipal: ctx.peerPrincipal,
        destinationPrincipal: outcome.endpoint?.identity,
      }),
    );
  };

  const reply = (
    status: number,
    text: string,
    flags: string,
    details: string,
    headers: HeaderMap = {},
  ) => {
    outcome.status = grpc && status >= 400 ? 200 : status;
    outcome.flags = flags;
    outcome.details = details;
    finished = true;
    // Drain the request so HTTP/1.1 keep-alive can continue.
    x.body.resume();
    localReply(x, grpc, status, text, headers);
  };

  if (!cfg) return reply(503, 'no config', 'NC', 'no_config');
  const { path: rawPath, query } = splitTarget(x.target);
  const path = normalizePath(rawPath);
  const joinedHeaders = joined(x.headers);

  // --- authorization
  const attrs: AuthzAttributes = {
    protocol: 'http',
    sourcePrincipal: ctx.peerPrincipal,
    sourceIp: ctx.clientIp,
    remoteIp: lastXff(x.headers) ?? ctx.clientIp,
    destinationIp: ctx.dest.ip,
    destinationPort: ctx.dest.port,
    service: destKey,
    host: x.authority,
    method: x.method,
    path,
    headers: joinedHeaders,
    sni: '',
  };
  const decision = authorize(cfg.policies, attrs);
  for (const d of decision.dryRun)
    deps.log.info('dry-run policy', {
      policy: d.policy,
      action: d.action,
      matched: d.matched,
      path,
    });
  if (!decision.allowed)
    return reply(
      403,
      'RBAC: access denied',
      'RBAC',
      `rbac_access_denied_matched_policy[${decision.policy ?? 'none'}]`,
    );

  // --- route
  let rule: CompiledRule;
  let matchedPrefix: string | undefined;
  if (ctx.dest.kind === 'workload') {
    rule = defaultRule('', ctx.dest.port);
  } else {
    const table = cfg.tables.get(tableKey(destKey!, ctx.dest.port));
    const req = { method: x.method, path, query, headers: joinedHeaders, grpc };
    const self = cfg.source.waypoint;
    // An ingress gateway matches Host against its listeners' and routes' hostnames too.
    const choice =
      self.role === 'ingress'
        ? selectIngressRoute(
            table,
            (self.listeners ?? []).filter((l) => l.port === ctx.dest.port),
            x.authority,
            req,
          )
        : selectRoute(table, req);
    // An ingress gateway has no service of its own behind it: only its routes lead anywhere.
    if (
      choice.kind === 'no-match' ||
      (choice.kind === 'default' && cfg.source.waypoint.role === 'ingress')
    )
      return reply(404, 'route not found', 'NR', 'route_not_found');
    if (choice.kind === 'default') rule = defaultRule(destKey!, ctx.dest.port);
    else {
      rule = choice.entry.rule;
      matchedPrefix = choice.entry.match.prefix;
      outcome.route = `${rule.routeKey}.${rule.ruleName ?? rule.ruleIndex}`;
    }
  }

  const planned = planRequest({
    rule,
    path,
    query,
    authority: x.authority,
    headers: x.headers,
    servicePort: ctx.dest.port,
    matchedPrefix,
  });
  if (planned.kind === 'redirect')
    return reply(planned.status, '', '-', 'direct_response', { location: planned.location });
  if (planned.kind === 'error')
    return reply(planned.status, 'internal error', 'NR', planned.details);

  const backend =
    ctx.dest.kind === 'workload' ? workloadService(ctx) : cfg.services.get(planned.backend.service);
  if (!backend)
    return reply(500, 'backend not found', 'NR', `unknown_backend{${planned.backend.service}}`);
  outcome.backend = backend;
  const backendPort = ctx.dest.kind === 'workload' ? ctx.dest.port : planned.backend.port;

  planned.headers['x-request-id'] = requestId;
  planned.headers.traceparent = traceparentOf(span);

  const timeouts = rule.timeouts;
  const reqTimer =
    timeouts?.requestMs && timeouts.requestMs > 0
      ? setTimeout(
          () => controller.abort(new AttemptError('timeout', 'request timeout')),
          timeouts.requestMs,
        )
      : undefined;

  forward(deps.pool, {
    service: backend,
    servicePort: backendPort,
    protocol: upstreamProtocol(backend, backendPort, x),
    method: x.method,
    path: planned.path,
    authority: planned.authority,
    headers: planned.headers,
    body,
    retry: rule.retry,
    backendRequestMs: timeouts?.backendRequestMs,
    signal: controller.signal,
  }).then(
    (r) => respond(r, planned, reqTimer),
    (err: unknown) => {
      clearTimeout(reqTimer);
      deps.log.warn('forward failed', { conn: ctx.id, error: errorMessage(err) });
      reply(503, 'upstream error', 'UF', 'forward_failed');
    },
  );

  function respond(r: ForwardResult, plan: Plan, reqTimer: NodeJS.Timeout | undefined): void {
    if (r.chosen) {
      outcome.endpoint = r.chosen.endpoint;
      outcome.upstreamHost = `${r.chosen.target.address}:${r.chosen.target.targetPort}`;
    }
    if (!r.ok) {
      clearTimeout(reqTimer);
      const text =
        r.status === 504
          ? 'upstream request timeout'
          : r.status === 503
            ? 'no healthy upstream'
            : 'upstream error';
      return reply(
        r.status,
        r.details.startsWith('upstream_reset')
          ? `upstream connect error or disconnect/reset before headers. reset reason: ${r.details}`
          : text,
        r.flags,
        r.details,
      );
    }
    const res = r.response;
    outcome.upstreamMs = r.upstreamMs;
    outcome.status = res.status;
    // The last answer of exhausted retries is passed on, flagged as Envoy does.
    if (r.attempts > 1 && (rule.retry?.codes ?? DEFAULT_RETRY.codes).includes(res.status))
      outcome.flags = 'URX';
    // The response's own header object (endToEnd made it for this attempt): edited in place.
    const headers = res.headers;
    for (const m of plan.responseModifiers) modifyHeaders(headers, m);
    if (x.responded) {
      res.abort();
      return;
    }
    outcome.grpcStatus = first(headers, 'grpc-status');
    if (res.endedWithHeaders) {
      clearTimeout(reqTimer);
      finished = true;
      x.respond(res.status, headers, true);
      return;
    }
    const trailersExpected =
      x.protocol === 'HTTP/2' && (grpc || first(x.headers, 'te') === 'trailers');
    x.respond(res.status, headers, false, trailersExpected);
    controller.signal.addEventListener('abort', () => {
      res.abort();
      x.abort();
    });
    // Chunks written as they come, paused while the client is slow: what pipe() does, without
    // the eight listeners it adds to both streams and removes again for every response.
    const sink = x.sink;
    const src = res.body;
    const resume = () => src.resume();
    src.on('data', (c: Buffer) => {
      if (sink.destroyed) return;
      if (!sink.write(c)) {
        src.pause();
        sink.once('drain', resume);
      }
    });
    res.body.once('end', () => {
      clearTimeout(reqTimer);
      finished = true;
      const t = res.trailers();
      if (t) outcome.grpcStatus = first(t, 'grpc-status') ?? outcome.grpcStatus;
      x.finish(t);
      mirror(plan);
    });
    res.body.once('error', () => {
      clearTimeout(reqTimer);
      outcome.flags = 'UPE';
      x.abort();
    });
  }

  function mirror(plan: Plan): void {
    for (const m of plan.mirrors) {
      const share = m.fraction
        ? m.fraction.numerator / Math.max(1, m.fraction.denominator)
        : (m.percent ?? 100) / 100;
      if (Math.random() >= share || !body.complete) continue;
      const svc = cfg?.services.get(m.backend.service);
      if (!svc) continue;
      const copy = new RequestBody(Readable.from([body.buffered()]));
      // Envoy marks mirrored requests by suffixing the host with -shadow.
      const authority = plan.authority.replace(/(:\d+)?$/, '-shadow$1');
      forward(deps.pool, {
        service: svc,
        servicePort: m.backend.port,
        protocol: upstreamProtocol(svc, m.backend.port, x),
        method: x.method,
        path: plan.path,
        authority,
        headers: { ...plan.headers },
        body: copy,
        retry: { codes: [], attempts: 0 },
        signal: AbortSignal.timeout(10_000),
      }).then(
        (res) => {
          if (res.ok) res.response.body.resume();
        },
        () => undefined,
      );
    }
  }
}
