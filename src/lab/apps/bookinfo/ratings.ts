/** bookinfo `ratings` (v1): each reviewer's stars for a product, on /ratings/<id>. */
import { sendJson, type Handler } from './http.js';

export const ratingsHandler: Handler = (_req, res, url) => {
  if (url.pathname === '/health') return sendJson(res, 200, { status: 'Ratings is healthy' });
  const m = /^\/ratings\/(\d+)$/.exec(url.pathname);
  if (m) return sendJson(res, 200, { id: Number(m[1]), ratings: { Reviewer1: 5, Reviewer2: 4 } });
  if (url.pathname.startsWith('/ratings/'))
    return sendJson(res, 400, { error: 'please provide numeric product ID' });
  return sendJson(res, 404, { error: 'unsupported path' });
};
