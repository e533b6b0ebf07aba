// A logged-in (or logged-out) person's browser, over real HTTP: keeps cookies,
// sends form posts with the CSRF token the last page carried, never follows
// redirects on its own (tests assert them).
export class BrowserSession {
  private readonly cookies = new Map<string, string>();
  /** The CSRF token from the last HTML page fetched. */
  csrfToken: string | undefined;

  constructor(readonly baseUrl: string) {}

  cookie(name: string): string | undefined {
    return this.cookies.get(name);
  }

  setCookie(name: string, value: string): void {
    this.cookies.set(name, value);
  }

  async fetch(pathname: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size > 0)
      headers.set('cookie', [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; '));
    if (!headers.has('accept')) headers.set('accept', 'text/html');
    const response = await fetch(new URL(pathname, this.baseUrl), { ...init, headers, redirect: 'manual' });
    for (const line of response.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';');
      const index = pair.indexOf('=');
      const name = pair.slice(0, index).trim();
      const value = pair.slice(index + 1).trim();
      const expired = attributes.some((attribute) => /^\s*(max-age=0|expires=thu, 01 jan 1970)/i.test(attribute));
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    if ((response.headers.get('content-type') ?? '').includes('text/html')) {
      const text = await response.clone().text();
      const token =
        /name="_csrf" value="([^"]+)"/.exec(text)?.[1] ?? /name="csrf-token" content="([^"]+)"/.exec(text)?.[1];
      if (token) this.csrfToken = token;
    }
    return response;
  }

  /** GET a page; fails the test unless it answers 200. */
  async page(pathname: string): Promise<string> {
    const response = await this.fetch(pathname);
    if (response.status !== 200) throw new Error(`GET ${pathname} answered ${response.status}`);
    return response.text();
  }

  /** POST a form like a browser, adding the current CSRF token unless `_csrf` is given. */
  postForm(pathname: string, fields: Record<string, string>): Promise<Response> {
    const body = new URLSearchParams({ ...(this.csrfToken ? { _csrf: this.csrfToken } : {}), ...fields });
    return this.fetch(pathname, { method: 'POST', body });
  }

  /** Logs in through the real form. */
  async logIn(username: string, password: string): Promise<void> {
    await this.page('/login');
    const response = await this.postForm('/login', { username, password });
    if (response.status !== 303)
      throw new Error(`log in as ${username} answered ${response.status}: ${await response.text()}`);
    await this.page('/');
  }
}
