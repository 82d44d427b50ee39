/**
 * The HTML of bookinfo's productpage: the book, its details and its reviews with stars, and the
 * reviews pod that answered ("Reviews served by: reviews-v2-…"), in the sample's layout. Pure:
 * what to show comes in, a page goes out.
 */
export interface Review {
  reviewer: string;
  text: string;
  rating?: { stars?: number; color?: string; error?: string };
}

export interface PageInput {
  user: string | undefined;
  details: Record<string, unknown> | { error: string };
  reviews: { podname: string; reviews: Review[] } | { error: string };
}

export const PRODUCT = {
  id: 0,
  title: 'The Comedy of Errors',
  descriptionHtml:
    '<a href="https://en.wikipedia.org/wiki/The_Comedy_of_Errors">Wikipedia Summary</a>: The Comedy of Errors is one of <b>William Shakespeare\'s</b> early plays. It is his shortest and one of his most farcical comedies, with a major part of the humour coming from slapstick and mistaken identity, in addition to puns and word play.',
};

const esc = (s: unknown) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function stars(r: Review['rating']): string {
  if (!r) return '';
  if (r.error) return `<p><i>${esc(r.error)}</i></p>`;
  const n = Math.max(0, Math.min(5, r.stars ?? 0));
  const color = r.color === 'red' ? 'red' : 'black';
  const full = `<span class="glyphicon glyphicon-star" style="color: ${color}">&#9733;</span>`;
  const empty = `<span class="glyphicon glyphicon-star-empty" style="color: ${color}">&#9734;</span>`;
  return `<font color="${color}">${full.repeat(n)}${empty.repeat(5 - n)}</font>`;
}

function detailsHtml(d: PageInput['details']): string {
  if ('error' in d && typeof d.error === 'string')
    return `<h4 class="text-center text-primary">Error fetching product details!</h4><p>${esc(d.error)}</p>`;
  const rows: [string, string][] = [
    ['Type', 'type'],
    ['Pages', 'pages'],
    ['Publisher', 'publisher'],
    ['Language', 'language'],
    ['ISBN-10', 'ISBN-10'],
    ['ISBN-13', 'ISBN-13'],
  ];
  return `<h4 class="text-center text-primary">Book Details</h4>
<dl>${rows.map(([label, key]) => `<dt>${label}:</dt>${esc((d as Record<string, unknown>)[key])}`).join('\n')}</dl>`;
}

function reviewsHtml(r: PageInput['reviews']): string {
  if ('error' in r)
    return `<h4 class="text-center text-primary">Error fetching product reviews!</h4><p>${esc(r.error)}</p>`;
  const items = r.reviews
    .map(
      (x) => `<blockquote>
<p>${esc(x.text)}</p>
<small>${esc(x.reviewer)}</small>
${stars(x.rating)}
</blockquote>`,
    )
    .join('\n');
  return `<h4 class="text-center text-primary">Book Reviews</h4>
${items}
<dl><dt>Reviews served by:</dt><u>${esc(r.podname)}</u></dl>`;
}

export function productPage(p: PageInput): string {
  const who = p.user
    ? `<p class="navbar-text navbar-right">signed in as <b>${esc(p.user)}</b> <a href="logout">sign out</a></p>`
    : `<form method="post" action="login" class="navbar-form navbar-right"><input type="text" name="username" placeholder="User Name"><input type="password" name="passwd" placeholder="Password"><button type="submit">Sign in</button></form>`;
  return `<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>Simple Bookstore App</title>
<link rel="stylesheet" href="static/bootstrap/css/bootstrap.min.css">
</head>
<body>
<nav class="navbar navbar-inverse"><a class="navbar-brand" href="#">BookInfo Sample</a>${who}</nav>
<div class="container-fluid">
<div class="row"><div class="col-md-12">
<h3 class="text-center text-primary">${esc(PRODUCT.title)}</h3>
<p>Summary: ${PRODUCT.descriptionHtml}</p>
</div></div>
<div class="row">
<div class="col-md-6">${detailsHtml(p.details)}</div>
<div class="col-md-6">${reviewsHtml(p.reviews)}</div>
</div>
</div>
</body>
</html>
`;
}

export function indexPage(): string {
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Simple Bookstore App</title></head>
<body><h3>Hello! This is a simple bookstore application consisting of three services as shown below</h3>
<p>productpage → details, reviews (v1, v2, v3) → ratings</p>
<p><a href="productpage?u=normal">Normal user</a></p>
<p><a href="productpage?u=test">Test user</a></p>
</body></html>
`;
}
