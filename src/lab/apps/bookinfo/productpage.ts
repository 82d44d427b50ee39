/**
 * bookinfo `productpage` (v1): the page a user loads, which calls `details` and `reviews` with
 * the inbound request's trace and user headers; sign-in sets a `session` cookie whose user is
 * sent on as `end-user` (what header-based routing in the guides matches). JSON API under
 * /api/v1/products, a stylesheet under /static, request counts on /metrics.
 */
import type http from 'node:http';
import { bookDetails } from './details.js';
import { get, propagated, sendJson, upstream, type Handler } from './http.js';
import { indexPage, PRODUCT, productPage, type PageInput } from './page.js';

const CSS =
  'body{font-family:sans-serif;margin:0}.text-primary{color:#337ab7}.container-fluid{padding:0 15px}.row{display:flex;gap:2em}.col-md-6{flex:1}.navbar{background:#222;color:#9d9d9d;padding:10px}blockquote{border-left:5px solid #eee;padding:10px 20px}\n';

function sessionUser(req: http.IncomingMessage): string | undefined {
  const m = /(?:^|;\s*)session=([^;]+)/.exec(req.headers.cookie ?? '');
  return m ? decodeURIComponent(m[1]!) : undefined;
}

function outbound(req: http.IncomingMessage): Record<string, string> {
  const h = propagated(req);
  const user = sessionUser(req);
  if (user) h['end-user'] = user;
  return h;
}

async function details(req: http.IncomingMessage, id: number): Promise<PageInput['details']> {
  try {
    const r = await get(upstream('details'), `/details/${id}`, outbound(req), 3000);
    if (r.status !== 200)
      return { error: `Sorry, product details are currently unavailable for this book.` };
    return JSON.parse(r.body) as Record<string, unknown>;
  } catch {
    return { error: 'Sorry, product details are currently unavailable for this book.' };
  }
}

async function reviews(req: http.IncomingMessage, id: number): Promise<PageInput['reviews']> {
  try {
    const r = await get(upstream('reviews'), `/reviews/${id}`, outbound(req), 3000);
    if (r.status !== 200)
      return { error: 'Sorry, product reviews are currently unavailable for this book.' };
    return JSON.parse(r.body) as { podname: string; reviews: [] };
  } catch {
    return { error: 'Sorry, product reviews are currently unavailable for this book.' };
  }
}

function html(res: http.ServerResponse, status: number, body: string): void {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

async function readForm(req: http.IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > 64 * 1024) break;
    chunks.push(c);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

export function productpageHandler(): Handler {
  let served = 0;
  return async (req, res, url) => {
    served++;
    const p = url.pathname;
    if (p === '/' || p === '/index.html') return html(res, 200, indexPage());
    if (p === '/health') return sendJson(res, 200, { status: 'Product page is healthy' });
    if (p === '/productpage') {
      const [d, r] = await Promise.all([details(req, 0), reviews(req, 0)]);
      return html(res, 200, productPage({ user: sessionUser(req), details: d, reviews: r }));
    }
    if (p === '/login' && req.method === 'POST') {
      const user = (await readForm(req)).get('username') ?? '';
      res.writeHead(302, {
        location: '/productpage',
        'set-cookie': `session=${encodeURIComponent(user)}; Path=/`,
      });
      return void res.end();
    }
    if (p === '/logout') {
      res.writeHead(302, { location: '/productpage', 'set-cookie': 'session=; Path=/; Max-Age=0' });
      return void res.end();
    }
    if (p === '/api/v1/products')
      return sendJson(res, 200, [
        { id: PRODUCT.id, title: PRODUCT.title, descriptionHtml: PRODUCT.descriptionHtml },
      ]);
    const api = /^\/api\/v1\/products\/(\d+)(\/reviews|\/ratings)?$/.exec(p);
    if (api) {
      const id = Number(api[1]);
      if (!api[2]) return sendJson(res, 200, bookDetails(id));
      const r = await reviews(req, id);
      if ('error' in r) return sendJson(res, 503, r);
      if (api[2] === '/reviews') return sendJson(res, 200, r);
      const ratings: Record<string, number> = {};
      for (const x of r.reviews)
        if (x.rating?.stars !== undefined) ratings[x.reviewer] = x.rating.stars;
      return sendJson(res, 200, { id, ratings });
    }
    if (p.startsWith('/static/')) {
      if (p.endsWith('.css')) {
        res.writeHead(200, { 'content-type': 'text/css' });
        return void res.end(CSS);
      }
      return sendJson(res, 404, { error: 'not found' });
    }
    if (p === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      return void res.end(
        `# TYPE productpage_requests_total counter\nproductpage_requests_total ${served}\n`,
      );
    }
    return html(res, 404, '<h1>Not Found</h1>\n');
  };
}
