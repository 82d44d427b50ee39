/** bookinfo `details` (v1): the book's facts as JSON, on /details/<id>. */
import { sendJson, type Handler } from './http.js';

export function bookDetails(id: number): Record<string, unknown> {
  return {
    id,
    author: 'William Shakespeare',
    year: 1595,
    type: 'paperback',
    pages: 200,
    publisher: 'PublisherA',
    language: 'English',
    'ISBN-10': '1234567890',
    'ISBN-13': '123-1234567890',
  };
}

export const detailsHandler: Handler = (_req, res, url) => {
  if (url.pathname === '/health') return sendJson(res, 200, { status: 'Details is healthy' });
  const m = /^\/details\/(\d+)$/.exec(url.pathname);
  if (m) return sendJson(res, 200, bookDetails(Number(m[1])));
  if (url.pathname.startsWith('/details/'))
    return sendJson(res, 400, { error: 'please provide numeric product id' });
  return sendJson(res, 404, { error: 'unsupported path' });
};
