// jwtgate.js: a small browser client for jwtgate's cookie mode (ES module, no dependencies).
//
// Tokens live in HttpOnly cookies that this script never sees. It keeps the CSRF token (from the
// login answer, or the readable `jwtgate-csrf` cookie after a reload), sends it as X-CSRF-Token on
// unsafe methods, refreshes shortly before the access token expires and once after a 401 (then
// retries once), and shares one refresh among concurrent calls. It never logs anything.

const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);

export class JwtgateError extends Error {
  constructor(status, error, description) {
    super(description || error || `HTTP ${status}`);
    this.status = status;
    this.error = error;
  }
}

function readCookie(name) {
  if (typeof document === "undefined") return null;
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return null;
}

async function failure(response) {
  let body = {};
  try {
    body = await response.json();
  } catch {
    // not JSON: keep the status only
  }
  return new JwtgateError(response.status, body.error, body.error_description);
}

export class JwtgateClient {
  constructor({ baseUrl = "", refreshMargin = 30, fetch: fetchImpl, now } = {}) {
    this.baseUrl = baseUrl.replace(/\/$/, "");
    this.refreshMargin = refreshMargin;
    this._fetch = fetchImpl || globalThis.fetch.bind(globalThis);
    this._now = now || (() => Date.now() / 1000);
    this._csrf = null;
    this._expiresAt = null;
    this._refreshing = null;
    this._margin = refreshMargin;
  }

  get csrfToken() {
    return this._csrf || readCookie("jwtgate-csrf");
  }

  _accept(body) {
    this._csrf = body.csrf_token;
    this._expiresAt = this._now() + body.expires_in;
    // A margin as long as the token's life would refresh before every call.
    this._margin = Math.min(this.refreshMargin, body.expires_in / 2);
  }

  _raw(path, init = {}) {
    const method = (init.method || "GET").toUpperCase();
    const headers = new Headers(init.headers || {});
    const csrf = this.csrfToken;
    if (!SAFE.has(method) && csrf) headers.set("X-CSRF-Token", csrf);
    return this._fetch(this.baseUrl + path, { ...init, method, headers, credentials: "same-origin" });
  }

  async login(username, password) {
    const response = await this._raw("/api/cookie/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username, password }),
    });
    if (!response.ok) throw await failure(response);
    this._accept(await response.json());
  }

  // One refresh at a time: concurrent callers await the same promise, and tabs of this origin take
  // turns through a Web Lock, so two tabs never send the same refresh cookie at once (the answer that
  // lands last would leave a spent token in the cookie jar).
  refresh() {
    if (!this._refreshing) {
      const locks = typeof navigator !== "undefined" ? navigator.locks : undefined;
      const run = (task) => (locks ? locks.request("jwtgate-refresh", task) : task());
      this._refreshing = run(async () => {
        try {
          const response = await this._raw("/api/cookie/refresh", { method: "POST" });
          if (!response.ok) {
            this._expiresAt = null;
            throw await failure(response);
          }
          this._accept(await response.json());
        } finally {
          this._refreshing = null;
        }
      });
    }
    return this._refreshing;
  }

  _due() {
    return this._expiresAt !== null && this._now() >= this._expiresAt - this._margin;
  }

  // fetch() with the session: refreshed before expiry, refreshed and retried once after a 401.
  async fetch(path, init = {}) {
    if (this._refreshing) await this._refreshing.catch(() => {});
    if (this._due()) await this.refresh();
    const response = await this._raw(path, init);
    if (response.status !== 401) return response;
    try {
      await this.refresh();
    } catch {
      return response;
    }
    return this._raw(path, init);
  }

  async json(path, init = {}) {
    const response = await this.fetch(path, init);
    if (!response.ok) throw await failure(response);
    return response.status === 204 ? null : response.json();
  }

  me() {
    return this.json("/api/me");
  }

  sessions() {
    return this.json("/api/sessions").then((body) => body.sessions);
  }

  revokeSession(sid) {
    return this.json(`/api/sessions/${encodeURIComponent(sid)}`, { method: "DELETE" });
  }

  async logout() {
    await this.json("/api/logout", { method: "POST" });
    this._csrf = null;
    this._expiresAt = null;
  }

  async logoutAll() {
    const body = await this.json("/api/logout/all", { method: "POST" });
    this._csrf = null;
    this._expiresAt = null;
    return body.revoked_sessions;
  }
}
