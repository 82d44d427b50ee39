/**
 * bookinfo `reviews`, in its three versions: v1 without ratings; v2 and v3 call `ratings` and
 * show black (v2) or red (v3) stars. Every answer names the pod that served it, which is how the
 * productpage (and the getting-started guide's traffic-shift check) tells the versions apart.
 */
import { get, podName, propagated, sendJson, upstream, type Handler } from './http.js';

export type ReviewsVersion = 'v1' | 'v2' | 'v3';

const REVIEWS = [
  {
    reviewer: 'Reviewer1',
    text: 'An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!',
  },
  {
    reviewer: 'Reviewer2',
    text: 'Absolutely fun and entertaining. The play lacks thematic depth when compared to other plays by Shakespeare.',
  },
];

export function reviewsHandler(version: ReviewsVersion, pod: () => string = podName): Handler {
  const color = version === 'v3' ? 'red' : 'black';
  return async (req, res, url) => {
    if (url.pathname === '/health') return sendJson(res, 200, { status: 'Reviews is healthy' });
    const m = /^\/reviews\/(\d+)$/.exec(url.pathname);
    if (!m) return sendJson(res, 404, { error: 'unsupported path' });
    const id = m[1]!;
    let ratings: Record<string, number> | undefined;
    let ratingError: string | undefined;
    if (version !== 'v1') {
      try {
        const r = await get(upstream('ratings'), `/ratings/${id}`, propagated(req), 10_000);
        if (r.status === 200)
          ratings = (JSON.parse(r.body) as { ratings: Record<string, number> }).ratings;
        else ratingError = 'Ratings service is currently unavailable';
      } catch {
        ratingError = 'Ratings service is currently unavailable';
      }
    }
    sendJson(res, 200, {
      id,
      podname: pod(),
      clustername: 'null',
      reviews: REVIEWS.map((r) =>
        version === 'v1'
          ? r
          : {
              ...r,
              rating: ratingError
                ? { error: ratingError }
                : { stars: ratings?.[r.reviewer] ?? -1, color },
            },
      ),
    });
  };
}
