/**
 * Istio's ambient getting-started guide (../shared/reference/istio-getting-started.md) as the
 * exact command lines a user types, in order. test/netns/guide.test.ts runs each of them
 * through bash and records its output (it fails when it runs a step out of this order or leaves
 * one out); test/unit/guide-readme.test.ts fails when the README's command block, or the
 * transcripts of a run (README and docs/guide-transcript.txt), name other lines than these.
 * So a README step cannot drift from what the test runs.
 *
 * The lines assume the README's setup: the repository as working directory, `bin/` on PATH
 * (`ambit` for istioctl), `$KUBECONFIG` the lab's, `$S` the unmodified Istio checkout
 * (test/external/istio, byte-identical to ../shared/external/istio).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../src/repo.js';

const curlTitle = 'curl -s http://localhost:8080/productpage | grep -o "<title>.*</title>"';
const promQuery = (q: string) =>
  `kubectl -n istio-system exec deploy/prometheus -- curl -sG http://localhost:9090/api/v1/query --data-urlencode 'query=${q}'`;

/** The steps by name; the object's order is the order they run in. */
export const GUIDE = {
  install: 'ambit install --set profile=ambient --skip-confirmation',
  crds: 'kubectl get crd gateways.gateway.networking.k8s.io &> /dev/null || kubectl apply -f test/external/gateway-api/standard-install.yaml',
  bookinfo: 'kubectl apply -f $S/samples/bookinfo/platform/kube/bookinfo.yaml',
  versions: 'kubectl apply -f $S/samples/bookinfo/platform/kube/bookinfo-versions.yaml',
  gateway: 'kubectl apply -f $S/samples/bookinfo/gateway-api/bookinfo-gateway.yaml',
  annotate:
    'kubectl annotate gateway bookinfo-gateway networking.istio.io/service-type=ClusterIP --namespace=default',
  waitPods: 'kubectl wait --for=condition=Ready pod --all --timeout=300s',
  getGateway: 'kubectl get gateway',
  portForward: 'kubectl port-forward svc/bookinfo-gateway-istio 8080:80 &',
  title: curlTitle,
  enrol: 'kubectl label namespace default istio.io/dataplane-mode=ambient',
  titleEnrolled: curlTitle,
  getPods: 'kubectl get pods',
  prometheus: 'kubectl apply -f samples/addons/prometheus.yaml',
  waitPrometheus:
    'kubectl -n istio-system wait --for=condition=Ready pod -l app.kubernetes.io/name=prometheus --timeout=180s',
  traffic:
    'for i in $(seq 1 100); do curl -sSI -o /dev/null http://localhost:8080/productpage; done',
  requestsTotal: promQuery(
    'sum(istio_requests_total{reporter="source",destination_service_name="productpage"})',
  ),
  tcpOpened: promQuery(
    'sum(istio_tcp_connections_opened_total{destination_workload="productpage-v1"})',
  ),
  l4Policy: 'kubectl apply -f examples/getting-started/productpage-ztunnel.yaml',
  curl: 'kubectl apply -f $S/samples/curl/curl.yaml',
  waitCurl: 'kubectl wait --for=condition=Ready pod -l app=curl --timeout=180s',
  l4Denied: 'kubectl exec deploy/curl -- curl -s "http://productpage:9080/productpage"; echo $?',
  titleL4: curlTitle,
  waypoint: 'ambit waypoint apply --enroll-namespace --wait',
  getWaypoint: 'kubectl get gtw waypoint',
  l7Policy: 'kubectl apply -f examples/getting-started/l7-policies.yaml',
  l7Delete: 'kubectl exec deploy/curl -- curl -s "http://productpage:9080/productpage" -X DELETE',
  l7ReviewsV1: 'kubectl exec deploy/reviews-v1 -- curl -s http://productpage:9080/productpage',
  l7Get:
    'kubectl exec deploy/curl -- curl -s http://productpage:9080/productpage | grep -o "<title>.*</title>"',
  route9010: 'kubectl apply -f $S/samples/bookinfo/gateway-api/route-reviews-90-10.yaml',
  split:
    'kubectl exec deploy/curl -- sh -c "for i in \\$(seq 1 100); do curl -s http://productpage:9080/productpage | grep reviews-v.-; done" | sort | uniq -c',
  unlabelWaypoint: 'kubectl label namespace default istio.io/use-waypoint-',
  deleteWaypoint: 'ambit waypoint delete --all',
  unlabelAmbient: 'kubectl label namespace default istio.io/dataplane-mode-',
  deleteRoute: 'kubectl delete httproute reviews',
  deletePolicies: 'kubectl delete authorizationpolicy productpage-ztunnel productpage-waypoint',
  deleteSamples:
    'kubectl delete -f $S/samples/bookinfo/platform/kube/bookinfo.yaml -f $S/samples/bookinfo/platform/kube/bookinfo-versions.yaml -f $S/samples/bookinfo/gateway-api/bookinfo-gateway.yaml -f $S/samples/curl/curl.yaml -f samples/addons/prometheus.yaml',
  uninstall: 'ambit uninstall -y --purge',
  deleteNamespace: 'kubectl delete namespace istio-system',
} as const;

export type GuideStep = keyof typeof GUIDE;
export const GUIDE_STEPS: readonly string[] = Object.values(GUIDE);

/** Where the README section marks its command block and its transcript. */
export const README_MARKS = {
  commands: '<!-- guide:commands -->',
  transcript: '<!-- guide:transcript -->',
  end: '<!-- guide:end -->',
};
export const TRANSCRIPT_FILE = join('docs', 'guide-transcript.txt');

export function readme(): string {
  return readFileSync(join(repoRoot(), 'README.md'), 'utf8');
}

/** The text between `mark` and the next mark (or end mark). */
export function marked(text: string, mark: string): string {
  const i = text.indexOf(mark);
  if (i < 0) throw new Error(`README has no ${mark}`);
  const rest = text.slice(i + mark.length);
  const ends = Object.values(README_MARKS)
    .map((m) => rest.indexOf(m))
    .filter((j) => j >= 0);
  return rest.slice(0, Math.min(...ends, rest.length));
}

/** `line` without a trailing `  # comment` that is outside quotes. */
function withoutComment(line: string): string {
  for (const m of line.matchAll(/\s{2,}# /g)) {
    const before = line.slice(0, m.index);
    const quotes = (q: string) => before.split(q).length - 1;
    if (quotes("'") % 2 === 0 && quotes('"') % 2 === 0) return before;
  }
  return line;
}

/**
 * The command lines of a shell block, as bash reads them: `\` continuations joined (the
 * spaces around them collapsed to one), blank lines and whole-line comments dropped, and a
 * trailing comment (two or more spaces, then `# `, outside quotes) cut.
 */
export function shellCommands(block: string): string[] {
  const body = /```sh\n([\s\S]*?)```/.exec(block)?.[1] ?? '';
  const out: string[] = [];
  let cur = '';
  for (const raw of body.split('\n')) {
    const line = withoutComment(raw);
    if (!cur && /^\s*(#|$)/.test(line)) continue;
    if (line.endsWith('\\')) {
      cur += line.slice(0, -1).trim() + ' ';
      continue;
    }
    out.push((cur + line.trimStart()).trim());
    cur = '';
  }
  return out;
}

/** The `$ ` lines of a transcript: the commands it shows output for. */
export function transcriptCommands(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('$ '))
    .map((l) => l.slice(2));
}

export interface TranscriptEntry {
  command: string;
  output: string;
}

/** `$ command` then its output; with `maxLines`, longer outputs keep their head and say how much was cut. */
export function renderTranscript(entries: readonly TranscriptEntry[], maxLines?: number): string {
  const parts: string[] = [];
  for (const e of entries) {
    parts.push(`$ ${e.command}`);
    const lines = e.output.replace(/\n+$/, '').split('\n');
    if (lines.length === 1 && lines[0] === '') continue;
    if (maxLines !== undefined && lines.length > maxLines) {
      parts.push(...lines.slice(0, maxLines - 1), `… (${lines.length - maxLines + 1} more lines)`);
    } else parts.push(...lines);
  }
  return parts.join('\n') + '\n';
}

/** `text` with the README's transcript block replaced by `transcript`. */
export function withTranscript(text: string, transcript: string): string {
  const i = text.indexOf(README_MARKS.transcript);
  const j = text.indexOf(README_MARKS.end, i);
  if (i < 0 || j < 0) throw new Error('README has no guide transcript marks');
  return (
    text.slice(0, i + README_MARKS.transcript.length) +
    '\n\n```text\n' +
    transcript +
    '```\n\n' +
    text.slice(j)
  );
}
