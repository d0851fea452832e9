// A minimal cookie-keeping browser for driving authd's login and consent
// pages from node tests: it keeps cookies, never follows redirects (the
// tests read Location), and submits a page's form with its hidden
// "request" field.

export class Browser {
  cookies = new Map();
  async fetch(url, init = {}) {
    const headers = new Headers(init.headers);
    if (this.cookies.size) {
      headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    }
    const resp = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const c of resp.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      this.cookies.set(pair.slice(0, i).trim(), pair.slice(i + 1));
    }
    return resp;
  }
  async submit(page, base, fields) {
    const action = unescapeHTML(page.match(/<form[^>]*action="([^"]*)"/)[1]);
    const request = unescapeHTML(page.match(/name="request" value="([^"]*)"/)[1]);
    return this.fetch(new URL(action, base), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ request, ...fields }),
    });
  }
}

export function unescapeHTML(s) {
  return s
    .replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n)))
    .replace(/&#x([0-9a-f]+);/gi, (_, n) => String.fromCharCode(parseInt(n, 16)))
    .replaceAll('&quot;', '"').replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&amp;', '&');
}
