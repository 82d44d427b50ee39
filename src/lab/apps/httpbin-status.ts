/**
 * httpbin's `/status/{codes}`: a single code, or a weighted random choice among `200,404` or
 * `200:0.9,503:0.1`, with the extra headers and bodies httpbin sends for some codes.
 */

export interface StatusReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const REDIRECT_LOCATION = '/redirect/1';

const TEAPOT = `
    -=[ teapot ]=-

       _...._
     .'  _ _ \`.
    | ."\` ^ \`". _,
    \\_;\`"---"\`|//
      |       ;/
      \\_     _/
        \`"""\`
`;

/** Parses `codes`; undefined when it is not valid (httpbin answers 400 "Invalid status code"). */
export function parseStatusCodes(codes: string): { code: number; weight: number }[] | undefined {
  const choices: { code: number; weight: number }[] = [];
  for (const choice of codes.split(',')) {
    const [c, w] = choice.includes(':') ? choice.split(':', 2) : [choice, '1'];
    const code = Number(c);
    const weight = Number(w);
    if (!/^\d+$/.test(c ?? '') || !Number.isFinite(weight) || weight < 0) return undefined;
    if (code < 100 || code > 599) return undefined;
    choices.push({ code, weight });
  }
  return choices.length ? choices : undefined;
}

export function weightedChoice(
  choices: readonly { code: number; weight: number }[],
  rnd: () => number = Math.random,
): number {
  const total = choices.reduce((s, c) => s + c.weight, 0);
  let x = rnd() * total;
  for (const c of choices) {
    if (x < c.weight) return c.code;
    x -= c.weight;
  }
  return choices[choices.length - 1]!.code;
}

export function statusReply(code: number): StatusReply {
  const html = { 'Content-Type': 'text/html; charset=utf-8' };
  switch (code) {
    case 301:
    case 302:
    case 303:
    case 305:
    case 307:
      return { status: code, headers: { ...html, Location: REDIRECT_LOCATION }, body: '' };
    case 401:
      return {
        status: code,
        headers: { ...html, 'WWW-Authenticate': 'Basic realm="Fake Realm"' },
        body: '',
      };
    case 402:
      return {
        status: code,
        headers: { ...html, 'x-more-info': 'http://vimeo.com/22053820' },
        body: 'Fuck you, pay me!',
      };
    case 406:
      return {
        status: code,
        headers: { 'Content-Type': 'application/json' },
        body:
          JSON.stringify(
            {
              accept: ['image/webp', 'image/svg+xml', 'image/jpeg', 'image/png', 'image/*'],
              message: 'Client did not request a supported media type.',
            },
            null,
            2,
          ) + '\n',
      };
    case 407:
      return {
        status: code,
        headers: { ...html, 'Proxy-Authenticate': 'Basic realm="Fake Realm"' },
        body: '',
      };
    case 418:
      return {
        status: code,
        headers: { ...html, 'x-more-info': 'http://tools.ietf.org/html/rfc2324' },
        body: TEAPOT,
      };
    default:
      return { status: code, headers: html, body: '' };
  }
}
