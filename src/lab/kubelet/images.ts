/**
 * Images the lab kubelet knows without a registry: the public images of Istio's samples and
 * what runs for each, a built-in app (`ambit lab app …`) answering on the image's ports with
 * its observable behaviour, or the machine's program that is the image's entrypoint. An image
 * is named without registry `docker.io/`, `library/`, tag or digest.
 */
import { prometheusArgv, type ImageContext } from './prometheus.js';

export interface KnownImage {
  /** What the image is, for the list of known images in ErrImagePull messages. */
  what: string;
  /**
   * The command line: `ambit` subcommand (app: true) or a program on the machine. `ctx` is
   * there when the kubelet starts the container (absent when only the argv is asked for).
   */
  argv(args: string[], ctx?: ImageContext): string[];
  app: boolean;
}

const app = (what: string, argv: (args: string[]) => string[]): KnownImage => ({
  what,
  argv,
  app: true,
});

export const knownImages: Record<string, KnownImage> = {
  // The install image (Containerfile): entrypoint `ambit`, the args name the component.
  'ambit/ambit': app(
    'ambit (entrypoint ambit; args: controlplane | ztunnel | cni run …)',
    (args) => args,
  ),
  'mccutchen/go-httpbin': app('go-httpbin on 8080 (Istio samples/httpbin)', () => [
    'lab',
    'app',
    'httpbin',
    '--flavor',
    'go',
    '--port',
    '8080',
  ]),
  'kennethreitz/httpbin': app('httpbin on 80', () => ['lab', 'app', 'httpbin', '--port', '80']),
  'istio/examples-helloworld-v1': app('helloworld v1 on 5000', () => [
    'lab',
    'app',
    'helloworld',
    '--version',
    'v1',
  ]),
  'istio/examples-helloworld-v2': app('helloworld v2 on 5000', () => [
    'lab',
    'app',
    'helloworld',
    '--version',
    'v2',
  ]),
  'istio/tcp-echo-server': app('tcp-echo-server <ports> <prefix>', (args) => [
    'lab',
    'app',
    'tcp-echo',
    ...(args.length > 0 ? args : ['9000', 'hello']),
  ]),
  'curlimages/curl': {
    what: 'curl (entrypoint curl)',
    argv: (args) => ['curl', ...args],
    app: false,
  },
  // Istio's samples/addons/prometheus.yaml (the repo's samples/addons/prometheus.yaml).
  'prom/prometheus': {
    what: "Prometheus (Debian's /usr/bin/prometheus, with the lab's pod discovery)",
    argv: prometheusArgv,
    app: true,
  },
  ...bookinfoImages(),
  ...echoImages(),
};

/**
 * Istio's echo app (`server` entrypoint, Istio's flags) under the names the Gateway API mesh
 * conformance manifests use (docs/istio/gamma-conformance.md §2: v1.6.1 and main) and Istio's own.
 */
function echoImages(): Record<string, KnownImage> {
  const img = app('Istio echo (--port 8080 --grpc 7070 [--tcp P] [--tls P])', (args) => [
    'lab',
    'app',
    'echo',
    ...args,
  ]);
  return Object.fromEntries(
    [
      'registry.k8s.io/gateway-api/echo-advanced',
      'registry.k8s.io/gateway-api/conformance/echo-advanced',
      'gcr.io/istio-release/app',
      'istio/app',
    ].map((n) => [n, img]),
  );
}

/**
 * Istio's bookinfo images, as the current samples name them (registry.istio.io/release/…) and
 * as older copies do (docker.io/istio/…): one built-in app per service and version.
 */
function bookinfoImages(): Record<string, KnownImage> {
  const out: Record<string, KnownImage> = {};
  const services: [string, string[]][] = [
    ['productpage', ['v1']],
    ['details', ['v1', 'v2']],
    ['reviews', ['v1', 'v2', 'v3']],
    ['ratings', ['v1']],
  ];
  for (const [svc, versions] of services) {
    for (const v of versions) {
      const img = app(`bookinfo ${svc} ${v} on 9080`, () => [
        'lab',
        'app',
        'bookinfo',
        svc,
        '--version',
        v,
      ]);
      out[`registry.istio.io/release/examples-bookinfo-${svc}-${v}`] = img;
      out[`istio/examples-bookinfo-${svc}-${v}`] = img;
    }
  }
  return out;
}

/** `docker.io/library/x:tag@sha256:…` → `x`. */
export function imageName(image: string | undefined): string {
  return (image ?? '')
    .replace(/@sha256:[0-9a-f]+$/, '')
    .replace(/:[^/]*$/, '')
    .replace(/^(docker\.io|index\.docker\.io)\//, '')
    .replace(/^library\//, '');
}
