// The built-in bookinfo services, run on loopback and called with real curl: productpage's page
// with details and reviews from the other services, stars by version, header propagation, the
// sign-in cookie becoming end-user, and the error texts when a service is down.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { detailsHandler } from '../../src/lab/apps/bookinfo/details.js';
import { serve, type AppServer } from '../../src/lab/apps/bookinfo/http.js';
import { productpageHandler } from '../../src/lab/apps/bookinfo/productpage.js';
import { ratingsHandler } from '../../src/lab/apps/bookinfo/ratings.js';
import { reviewsHandler } from '../../src/lab/apps/bookinfo/reviews.js';
import { bookinfoHandler } from '../../src/lab/apps/bookinfo/main.js';

const exec = promisify(execFile);
const servers: AppServer[] = [];
let page: AppServer;
const reviews: Record<string, AppServer> = {};
/** Headers the echo "reviews" received, for the propagation check. */
let seen: http.IncomingHttpHeaders | undefined;
let echo: http.Server;

async function curl(...args: string[]): Promise<string> {
  const { stdout } = await exec('curl', ['-sS', '--max-time', '20', ...args]);
  return stdout;
}

function pointReviewsAt(port: number): void {
  process.env.REVIEWS_HOSTNAME = '127.0.0.1';
  process.env.REVIEWS_SERVICE_PORT = String(port);
}

before(async () => {
  const start = async (h: Parameters<typeof serve>[2]) => {
    const s = await serve('127.0.0.1', 0, h);
    servers.push(s);
    return s;
  };
  const details = await start(detailsHandler);
  const ratings = await start(ratingsHandler);
  process.env.DETAILS_HOSTNAME = '127.0.0.1';
  process.env.DETAILS_SERVICE_PORT = String(details.port);
  process.env.RATINGS_HOSTNAME = '127.0.0.1';
  process.env.RATINGS_SERVICE_PORT = String(ratings.port);
  for (const v of ['v1', 'v2', 'v3'] as const)
    reviews[v] = await start(reviewsHandler(v, () => `reviews-${v}-5b8c8d6d4b-x${v}`));
  page = await start(productpageHandler());
  echo = http.createServer((req, res) => {
    seen = req.headers;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id: '0', podname: 'echo', reviews: [] }));
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
});

after(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await new Promise((r) => echo.close(r));
});

void test('productpage shows details and v1 reviews without stars, naming the pod', async () => {
  pointReviewsAt(reviews.v1!.port);
  const html = await curl(`http://127.0.0.1:${page.port}/productpage`);
  assert.match(html, /<title>Simple Bookstore App<\/title>/);
  assert.match(html, /The Comedy of Errors/);
  assert.match(html, /<dt>ISBN-10:<\/dt>1234567890/);
  assert.match(html, /<dt>Publisher:<\/dt>PublisherA/);
  assert.match(html, /An extremely entertaining play by Shakespeare/);
  assert.match(html, /Reviews served by:<\/dt><u>reviews-v1-5b8c8d6d4b-xv1<\/u>/);
  assert.doesNotMatch(html, /glyphicon-star/);
});

void test('reviews v2 shows black stars from ratings, v3 red', async () => {
  pointReviewsAt(reviews.v2!.port);
  const v2 = await curl(`http://127.0.0.1:${page.port}/productpage`);
  assert.match(v2, /reviews-v2-/);
  assert.equal((v2.match(/glyphicon-star" style="color: black"/g) ?? []).length, 9, '5 + 4 stars');
  pointReviewsAt(reviews.v3!.port);
  const v3 = await curl(`http://127.0.0.1:${page.port}/productpage`);
  assert.equal((v3.match(/glyphicon-star" style="color: red"/g) ?? []).length, 9);
  const json = JSON.parse(await curl(`http://127.0.0.1:${reviews.v3!.port}/reviews/0`)) as {
    reviews: { rating: { stars: number; color: string } }[];
  };
  assert.deepEqual(
    json.reviews.map((r) => r.rating),
    [
      { stars: 5, color: 'red' },
      { stars: 4, color: 'red' },
    ],
  );
});

void test('trace and user headers reach reviews; sign-in becomes end-user', async () => {
  pointReviewsAt((echo.address() as AddressInfo).port);
  await curl(
    '-H',
    'x-request-id: req-1',
    '-H',
    'traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    '-H',
    'x-b3-traceid: abc',
    `http://127.0.0.1:${page.port}/productpage`,
  );
  assert.equal(seen?.['x-request-id'], 'req-1');
  assert.equal(seen?.traceparent, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
  assert.equal(seen?.['x-b3-traceid'], 'abc');
  const login = await curl(
    '-i',
    '-d',
    'username=jason&passwd=x',
    `http://127.0.0.1:${page.port}/login`,
  );
  assert.match(login, /set-cookie: session=jason/i);
  const signedIn = await curl('-b', 'session=jason', `http://127.0.0.1:${page.port}/productpage`);
  assert.match(signedIn, /signed in as <b>jason<\/b>/);
  assert.equal(seen?.['end-user'], 'jason');
});

void test('a service that is down shows the sample error texts; the page still renders', async () => {
  const closed = await serve('127.0.0.1', 0, detailsHandler);
  await closed.close();
  pointReviewsAt(closed.port);
  const html = await curl(`http://127.0.0.1:${page.port}/productpage`);
  assert.match(html, /Error fetching product reviews!/);
  assert.match(html, /Sorry, product reviews are currently unavailable for this book\./);
  assert.match(html, /Book Details/);
});

void test('JSON API, details and ratings shapes, health, bad ids and unknown services', async () => {
  pointReviewsAt(reviews.v2!.port);
  const products = JSON.parse(await curl(`http://127.0.0.1:${page.port}/api/v1/products`)) as {
    title: string;
  }[];
  assert.equal(products[0]?.title, 'The Comedy of Errors');
  const ratings = JSON.parse(
    await curl(`http://127.0.0.1:${page.port}/api/v1/products/0/ratings`),
  ) as { ratings: Record<string, number> };
  assert.deepEqual(ratings.ratings, { Reviewer1: 5, Reviewer2: 4 });
  const d = servers[0]!;
  assert.match(await curl(`http://127.0.0.1:${d.port}/details/0`), /"ISBN-13":"123-1234567890"/);
  assert.match(await curl(`http://127.0.0.1:${d.port}/health`), /Details is healthy/);
  assert.match(
    await curl('-w', '%{http_code}', `http://127.0.0.1:${d.port}/details/x`),
    /numeric product id.*400$/,
  );
  assert.throws(() => bookinfoHandler('reviews', 'v9'), /LAB_BAD_APP_ARG|reviews version/);
  assert.throws(() => bookinfoHandler('cart', 'v1'), /unknown bookinfo service/);
});
