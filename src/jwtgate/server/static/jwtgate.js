// jwtgate.js: a small browser client for jwtgate (ES module, no dependencies). It never logs anything.
//
// Cookie mode (the default, for pages served by jwtgate): tokens live in HttpOnly cookies that this
// script never sees. It keeps the CSRF token (from the login answer, or the readable `jwtgate-csrf`
// cookie after a reload), sends it as X-CSRF-Token on unsafe methods, refreshes shortly before the
// access token expires and once after a 401 (then retries once), and shares one refresh among
// concurrent calls.
//
// DPoP mode (`dpop: true`, for apps on another origin using the JSON routes; RFC 9449): the client
// holds a non-extractable P-256 key (kept in IndexedDB, so the same key after a reload), signs a proof
// for every request, and keeps the tokens in memory only. The tokens it gets are bound to the key, so
// a token copied out of the page is useless without it; the key itself cannot be read out.

const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);
const ECDSA_P256 = { name: "ECDSA", namedCurve: "P-256" };
const ES256 = { name: "ECDSA", hash: "SHA-256" };
const NONCE_HEADER = "DPoP-Nonce";
const UTF8 = new TextEncoder();

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

function b64url(bytes) {
  let text = "";
  for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

const b64urlJson = (value) => b64url(UTF8.encode(JSON.stringify(value)));

function absolute(url) {
  return new URL(url, typeof location === "undefined" ? undefined : location.href);
}

function idbDone(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

// Where the DPoP key pair lives: IndexedDB stores CryptoKey objects as they are (a structured clone),
// non-extractable ones included, so the key survives reloads without its private part ever being
// readable by script. One key per jwtgate origin: two servers cannot link a user by a shared key.
export class IndexedDBKeyStore {
  constructor({ database = "jwtgate-dpop", id = "default" } = {}) {
    this.database = database;
    this.id = id;
  }

  async _open() {
    const opening = indexedDB.open(this.database, 1);
    opening.onupgradeneeded = () => opening.result.createObjectStore("keys");
    return idbDone(opening);
  }

  async get() {
    const db = await this._open();
    try {
      return (await idbDone(db.transaction("keys").objectStore("keys").get(this.id))) || null;
    } finally {
      db.close();
    }
  }

  // Stores the pair unless one is there already (false then): two tabs creating a key at once agree
  // on the one stored first.
  async add(keyPair) {
    const db = await this._open();
    try {
      const transaction = db.transaction("keys", "readwrite");
      const stored = new Promise((resolve, reject) => {
        transaction.oncomplete = () => resolve(true);
        transaction.onabort = () => {
          const taken = transaction.error && transaction.error.name === "ConstraintError";
          return taken ? resolve(false) : reject(transaction.error);
        };
      });
      transaction.objectStore("keys").add(keyPair, this.id);
      return await stored;
    } finally {
      db.close();
    }
  }
}

// For tests and for apps that keep no key across reloads (a new key, and a new login, per page load).
export class MemoryKeyStore {
  constructor() {
    this._pair = null;
  }

  async get() {
    return this._pair;
  }

  async add(keyPair) {
    if (this._pair) return false;
    this._pair = keyPair;
    return true;
  }
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

// A resource's 401 asking for a (new) DPoP nonce (RFC 9449 section 9).
function asksForNonce(response) {
  const challenge = response.headers.get("WWW-Authenticate") || "";
  return response.headers.has(NONCE_HEADER) && /\berror="use_dpop_nonce"/.test(challenge);
}

// Either refusal that a new proof with the nonce just received answers: a token endpoint's 400
// `use_dpop_nonce` (RFC 9449 section 8) or a resource's 401 challenge.
async function refusedForNonce(response) {
  if (!response.headers.has(NONCE_HEADER)) return false;
  if (response.status === 401) return asksForNonce(response);
  if (response.status !== 400) return false;
  try {
    return (await response.clone().json()).error === "use_dpop_nonce";
  } catch {
    return false;
  }
}

export class JwtgateClient {
  constructor({ baseUrl = "", refreshMargin = 30, fetch: fetchImpl, now, dpop = false, keyStore } = {}) {
    this.baseUrl = baseUrl.replace(/\/$/, "");
    this.dpop = Boolean(dpop);
    this._keyStore = keyStore || null;
    this._key = null; // promise of { pair, header, jkt }
    this._nonces = new Map(); // origin -> the last DPoP-Nonce it sent
    this._access = null; // DPoP mode only: in memory, never in storage a script of this origin can read
    this._refreshToken = null;
    this._tokenType = null;
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
    if (this.dpop) return this._send(this.baseUrl + path, init, this._access);
    const method = (init.method || "GET").toUpperCase();
    const headers = new Headers(init.headers || {});
    const csrf = this.csrfToken;
    if (!SAFE.has(method) && csrf) headers.set("X-CSRF-Token", csrf);
    return this._fetch(this.baseUrl + path, { ...init, method, headers, credentials: "same-origin" });
  }

  async login(username, password) {
    if (this.dpop) return this._dpopLogin(username, password);
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
    if (!this._refreshing && this.dpop) {
      // Tokens live in this page's memory (one session per tab): no lock across tabs is needed.
      this._refreshing = this._dpopRefresh().finally(() => {
        this._refreshing = null;
      });
    }
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
    if (this.dpop && asksForNonce(response)) return response; // already retried with the new nonce
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
    this._forget();
  }

  async logoutAll() {
    const body = await this.json("/api/logout/all", { method: "POST" });
    this._forget();
    return body.revoked_sessions;
  }

  _forget() {
    this._csrf = null;
    this._expiresAt = null;
    this._access = null;
    this._refreshToken = null;
    this._tokenType = null;
  }

  // -- DPoP mode ----------------------------------------------------------------------------------

  // "DPoP" once logged in against a server that binds tokens; "Bearer" if it has DPoP off.
  get tokenType() {
    return this._tokenType;
  }

  // The key pair (its private key is not extractable), created and stored on first use.
  async dpopKey() {
    return (await this._dpopKey()).pair;
  }

  // The RFC 7638 thumbprint of the public key: the `cnf.jkt` of the tokens this client gets.
  async dpopThumbprint() {
    return (await this._dpopKey()).jkt;
  }

  _dpopKey() {
    if (!this._key) {
      this._key = this._loadKey().catch((error) => {
        this._key = null; // IndexedDB or WebCrypto failed: try again on the next call
        throw error;
      });
    }
    return this._key;
  }

  async _loadKey() {
    if (!this._keyStore) this._keyStore = new IndexedDBKeyStore({ id: absolute(this.baseUrl || "/").origin });
    let pair = await this._keyStore.get();
    if (!pair) {
      // extractable=false: the private key can sign but never be exported (the public one always can).
      const created = await crypto.subtle.generateKey(ECDSA_P256, false, ["sign", "verify"]);
      pair = (await this._keyStore.add(created)) ? created : await this._keyStore.get();
    }
    const { crv, kty, x, y } = await crypto.subtle.exportKey("jwk", pair.publicKey);
    const jwk = { crv, kty, x, y }; // the required members in lexicographic order (RFC 7638)
    const jkt = b64url(await crypto.subtle.digest("SHA-256", UTF8.encode(JSON.stringify(jwk))));
    return { pair, jkt, header: b64urlJson({ typ: "dpop+jwt", alg: "ES256", jwk }) };
  }

  // A proof (RFC 9449 section 4.2) for one request: ES256 over header.claims; WebCrypto's ECDSA
  // signature is already the raw r||s that JWS wants.
  async _proof(method, url, accessToken) {
    const { pair, header } = await this._dpopKey();
    const claims = {
      jti: b64url(crypto.getRandomValues(new Uint8Array(16))),
      htm: method,
      htu: url.origin + url.pathname, // no query, no fragment
      iat: Math.floor(this._now()),
    };
    const nonce = this._nonces.get(url.origin);
    if (nonce) claims.nonce = nonce;
    if (accessToken) claims.ath = b64url(await crypto.subtle.digest("SHA-256", UTF8.encode(accessToken)));
    const input = `${header}.${b64urlJson(claims)}`;
    return `${input}.${b64url(await crypto.subtle.sign(ES256, pair.privateKey, UTF8.encode(input)))}`;
  }

  // One request with a fresh proof (and the access token, if any); sent again once with the server's
  // new nonce when it asks for one (400 at the token endpoints, 401 on resources).
  async _send(address, init, accessToken) {
    const url = absolute(address);
    const method = (init.method || "GET").toUpperCase();
    const attempt = async () => {
      const headers = new Headers(init.headers || {});
      if (!accessToken || this._tokenType === "DPoP") {
        headers.set("DPoP", await this._proof(method, url, accessToken));
      }
      if (accessToken) headers.set("Authorization", `${this._tokenType} ${accessToken}`);
      // credentials "omit": this mode authenticates by token and proof, never by an ambient cookie.
      const response = await this._fetch(url.href, { ...init, method, headers, credentials: "omit" });
      const nonce = response.headers.get(NONCE_HEADER);
      if (nonce) this._nonces.set(url.origin, nonce);
      return response;
    };
    const response = await attempt();
    return (await refusedForNonce(response)) ? attempt() : response;
  }

  _acceptTokens(body) {
    this._access = body.access_token;
    this._refreshToken = body.refresh_token;
    // A server with DPoP off answers Bearer tokens; they are used as such (as the Python client does).
    this._tokenType = String(body.token_type).toLowerCase() === "dpop" ? "DPoP" : "Bearer";
    this._expiresAt = this._now() + body.expires_in;
    this._margin = Math.min(this.refreshMargin, body.expires_in / 2);
  }

  async _dpopLogin(username, password) {
    const body = JSON.stringify({ username, password });
    const init = { method: "POST", headers: { "Content-Type": "application/json" }, body };
    const response = await this._send(`${this.baseUrl}/api/login`, init, null);
    if (!response.ok) throw await failure(response);
    this._acceptTokens(await response.json());
  }

  async _dpopRefresh() {
    if (!this._refreshToken) throw new JwtgateError(401, "invalid_grant", "not logged in");
    const response = await this._send(
      `${this.baseUrl}/api/token/refresh`,
      {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: this._refreshToken }),
      },
      null,
    );
    if (!response.ok) {
      this._expiresAt = null;
      if (response.status === 400 || response.status === 401) this._refreshToken = null; // refused for good
      throw await failure(response);
    }
    this._acceptTokens(await response.json());
  }
}
