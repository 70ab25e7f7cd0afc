// Unit tests of src/jwtgate/server/static/jwtgate.js under Node's test runner, with a fake server.
import { test } from "node:test";
import assert from "node:assert/strict";

const { JwtgateClient, JwtgateError } = await import(process.env.JWTGATE_JS);

class FakeServer {
  constructor() {
    this.now = 1000;
    this.counter = 0;
    this.valid = new Map(); // access "cookie" -> expiry
    this.access = null; // the browser's cookie jar, reduced to one cookie
    this.logins = 0;
    this.refreshes = 0;
    this.seen = [];
    this.refreshStatus = 200;
  }

  issue() {
    this.counter += 1;
    this.access = `at-${this.counter}`;
    this.valid.set(this.access, this.now + 900);
    return new Response(JSON.stringify({ expires_in: 900, csrf_token: "csrf-1" }), { status: 200 });
  }

  fetch = async (url, init) => {
    const path = new URL(url, "https://auth.example").pathname;
    const csrf = init.headers.get("X-CSRF-Token");
    this.seen.push({ path, method: init.method, csrf, cookie: this.access });
    if (path === "/api/cookie/login") {
      this.logins += 1;
      const body = JSON.parse(init.body);
      if (body.password !== "pw") {
        return new Response(JSON.stringify({ error: "invalid_grant", error_description: "nope" }), { status: 401 });
      }
      return this.issue();
    }
    if (path === "/api/cookie/refresh") {
      this.refreshes += 1;
      await new Promise((resolve) => setTimeout(resolve, 5)); // let concurrent callers pile up
      if (this.refreshStatus !== 200 || csrf !== "csrf-1") {
        return new Response(JSON.stringify({ error: "invalid_grant" }), { status: 401 });
      }
      return this.issue();
    }
    const expiry = this.valid.get(this.access);
    if (expiry === undefined || this.now >= expiry) {
      return new Response(JSON.stringify({ error: "invalid_token" }), { status: 401 });
    }
    return new Response(JSON.stringify({ token: this.access }), { status: 200 });
  };
}

function client(server) {
  return new JwtgateClient({ baseUrl: "https://auth.example", fetch: server.fetch, now: () => server.now });
}

test("login keeps the CSRF token and sends it on unsafe methods only", async () => {
  const server = new FakeServer();
  const c = client(server);
  await c.login("alice", "pw");
  assert.equal(c.csrfToken, "csrf-1");
  await c.fetch("/api/data");
  await c.fetch("/api/data", { method: "POST" });
  const [, get, post] = server.seen;
  assert.equal(get.csrf, null);
  assert.equal(post.csrf, "csrf-1");
});

test("a refused login throws a JwtgateError", async () => {
  const server = new FakeServer();
  await assert.rejects(client(server).login("alice", "bad"), (error) => {
    assert.ok(error instanceof JwtgateError);
    assert.equal(error.status, 401);
    assert.equal(error.error, "invalid_grant");
    return true;
  });
});

test("refreshes shortly before expiry", async () => {
  const server = new FakeServer();
  const c = client(server);
  await c.login("alice", "pw");
  server.now += 900 - 31;
  assert.deepEqual(await c.json("/api/data"), { token: "at-1" });
  server.now += 2;
  assert.deepEqual(await c.json("/api/data"), { token: "at-2" });
  assert.equal(server.refreshes, 1);
});

test("a 401 triggers one refresh and one retry", async () => {
  const server = new FakeServer();
  const c = client(server);
  await c.login("alice", "pw");
  server.valid.clear();
  assert.deepEqual(await c.json("/api/data"), { token: "at-2" });
  assert.equal(server.refreshes, 1);
});

test("when the refresh fails the 401 is returned, not retried forever", async () => {
  const server = new FakeServer();
  const c = client(server);
  await c.login("alice", "pw");
  server.valid.clear();
  server.refreshStatus = 401;
  const response = await c.fetch("/api/data");
  assert.equal(response.status, 401);
  assert.equal(server.refreshes, 1);
});

test("concurrent calls share one refresh", async () => {
  const server = new FakeServer();
  const c = client(server);
  await c.login("alice", "pw");
  server.now += 900;
  const results = await Promise.all(Array.from({ length: 10 }, () => c.json("/api/data")));
  assert.equal(server.refreshes, 1);
  assert.ok(results.every((r) => r.token === "at-2"));
});

// -- DPoP mode ------------------------------------------------------------------------------------

const { MemoryKeyStore } = await import(process.env.JWTGATE_JS);
const subtle = globalThis.crypto.subtle;
const enc = new TextEncoder();

function fromB64url(text) {
  return Buffer.from(text, "base64url");
}

async function sha256b64url(text) {
  return Buffer.from(await subtle.digest("SHA-256", enc.encode(text))).toString("base64url");
}

// A token server and API that check every proof independently of jwtgate.js (node's WebCrypto):
// signature by the header's key, typ/alg, htm, htu, iat, nonce, ath, jti used once, key binding.
class FakeDPoPServer {
  constructor() {
    this.now = 1000;
    this.nonce = "n-1";
    this.counter = 0;
    this.tokens = new Map(); // access token -> { jkt, expiry }
    this.refreshTokens = new Map(); // refresh token -> jkt
    this.jtis = new Set();
    this.seen = [];
    this.refreshes = 0;
    this.resourceNonce = null; // when set, resources ask for this nonce too
    this.tokenType = "DPoP";
    this.alwaysNewNonce = false;
  }

  async check(request, { accessToken = null } = {}) {
    const proof = request.headers.get("DPoP");
    if (!proof) return { error: "no proof" };
    const [h, p, s] = proof.split(".");
    const header = JSON.parse(fromB64url(h));
    const claims = JSON.parse(fromB64url(p));
    assert.deepEqual(Object.keys(header).sort(), ["alg", "jwk", "typ"]);
    assert.equal(header.typ, "dpop+jwt");
    assert.equal(header.alg, "ES256");
    assert.deepEqual(Object.keys(header.jwk).sort(), ["crv", "kty", "x", "y"]); // public members only
    const curve = { name: "ECDSA", namedCurve: "P-256" };
    const key = await subtle.importKey("jwk", header.jwk, curve, false, ["verify"]);
    const signed = enc.encode(`${h}.${p}`);
    const ok = await subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, fromB64url(s), signed);
    if (!ok) return { error: "bad signature" };
    const url = new URL(request.url);
    assert.equal(claims.htm, request.method);
    assert.equal(claims.htu, url.origin + url.pathname);
    assert.equal(claims.iat, Math.floor(this.now));
    assert.match(claims.jti, /^[A-Za-z0-9_-]{22}$/);
    if (this.jtis.has(claims.jti)) return { error: "replayed" };
    this.jtis.add(claims.jti);
    const { crv, kty, x, y } = header.jwk;
    const jkt = await sha256b64url(JSON.stringify({ crv, kty, x, y }));
    if (accessToken) {
      if (claims.ath !== (await sha256b64url(accessToken))) return { error: "bad ath" };
    } else {
      assert.equal(claims.ath, undefined);
    }
    return { jkt, claims };
  }

  json(status, body, headers = {}) {
    return new Response(JSON.stringify(body), { status, headers: { "DPoP-Nonce": this.nonce, ...headers } });
  }

  issue(jkt) {
    this.counter += 1;
    const access = `at-${this.counter}`;
    const refresh = `rt-${this.counter}`;
    this.tokens.set(access, { jkt, expiry: this.now + 900 });
    this.refreshTokens.set(refresh, jkt);
    const body = { access_token: access, token_type: this.tokenType, expires_in: 900, refresh_token: refresh };
    return this.json(200, body);
  }

  fetch = async (url, init) => {
    const request = new Request(url, init);
    const path = new URL(url).pathname;
    const entry = {
      path,
      method: request.method,
      authorization: request.headers.get("Authorization"),
      proof: request.headers.get("DPoP"),
      credentials: init.credentials,
      csrf: request.headers.get("X-CSRF-Token"),
    };
    this.seen.push(entry);
    if (path === "/api/login" || path === "/api/token/refresh") {
      const body = JSON.parse(init.body);
      const checked = await this.check(request);
      if (checked.error) return this.json(400, { error: "invalid_dpop_proof" });
      if (checked.claims.nonce !== this.nonce) return this.json(400, { error: "use_dpop_nonce" });
      if (path === "/api/login") return this.issue(checked.jkt);
      this.refreshes += 1;
      await new Promise((resolve) => setTimeout(resolve, 5)); // let concurrent callers pile up
      const bound = this.refreshTokens.get(body.refresh_token);
      this.refreshTokens.delete(body.refresh_token);
      if (bound === undefined) return this.json(400, { error: "invalid_grant" });
      if (bound !== checked.jkt) return this.json(400, { error: "invalid_dpop_proof" });
      return this.issue(checked.jkt);
    }
    const challenge = (error) => this.json(401, { error }, { "WWW-Authenticate": `DPoP error="${error}"` });
    const [scheme, token] = (entry.authorization || "").split(" ");
    const record = this.tokens.get(token);
    if (!record || this.now >= record.expiry) return challenge("invalid_token");
    if (scheme !== "DPoP") return challenge("invalid_token");
    if (this.alwaysNewNonce) this.resourceNonce = `n-${this.seen.length}`;
    const checked = await this.check(request, { accessToken: token });
    if (checked.error || checked.jkt !== record.jkt) return challenge("invalid_dpop_proof");
    if (this.resourceNonce && checked.claims.nonce !== this.resourceNonce) {
      this.nonce = this.resourceNonce;
      return challenge("use_dpop_nonce");
    }
    return this.json(200, { token, query: new URL(url).search });
  };
}

function dpopClient(server, keyStore = new MemoryKeyStore()) {
  return new JwtgateClient({
    baseUrl: "https://auth.example",
    fetch: server.fetch,
    now: () => server.now,
    dpop: true,
    keyStore,
  });
}

test("dpop: login learns the nonce, retries once, and gets tokens bound to a non-extractable key", async () => {
  const server = new FakeDPoPServer();
  const c = dpopClient(server);
  await c.login("alice", "pw");
  assert.deepEqual(
    server.seen.map((s) => s.path),
    ["/api/login", "/api/login"],
  );
  assert.ok(server.seen.every((s) => s.credentials === "omit" && s.authorization === null && s.csrf === null));
  assert.equal(c.tokenType, "DPoP");
  const jkt = await c.dpopThumbprint();
  assert.equal(server.tokens.get("at-1").jkt, jkt);
  const { privateKey, publicKey } = await c.dpopKey();
  assert.equal(privateKey.extractable, false);
  assert.deepEqual(privateKey.usages, ["sign"]);
  await assert.rejects(subtle.exportKey("jwk", privateKey));
  assert.equal((await subtle.exportKey("jwk", publicKey)).d, undefined);
});

test("dpop: API calls send the DPoP scheme and a proof with ath, htu without query", async () => {
  const server = new FakeDPoPServer();
  const c = dpopClient(server);
  await c.login("alice", "pw");
  assert.deepEqual(await c.json("/api/data?page=2#top"), { token: "at-1", query: "?page=2" });
  await c.json("/api/data", { method: "POST", body: "{}" });
  const [get, post] = server.seen.slice(2);
  assert.equal(get.authorization, "DPoP at-1");
  assert.equal(post.method, "POST");
  assert.notEqual(get.proof, post.proof);
  assert.equal(server.seen.length, 4); // no retry, no refresh
});

test("dpop: a wrong proof is refused by the checker (the fake server can fail)", async () => {
  const server = new FakeDPoPServer();
  const c = dpopClient(server);
  await c.login("alice", "pw");
  server.tokens.get("at-1").jkt = "another key";
  server.refreshTokens.clear(); // else the client would refresh and retry, and succeed
  const response = await c.fetch("/api/data");
  assert.equal(response.status, 401);
  assert.equal((await response.json()).error, "invalid_dpop_proof");
});

test("dpop: a resource asking for a nonce gets one retry with it, and no refresh", async () => {
  const server = new FakeDPoPServer();
  const c = dpopClient(server);
  await c.login("alice", "pw");
  server.resourceNonce = "n-2";
  assert.deepEqual(await c.json("/api/data"), { token: "at-1", query: "" });
  assert.deepEqual(
    server.seen.slice(2).map((s) => s.path),
    ["/api/data", "/api/data"],
  );
  assert.equal(server.refreshes, 0);
});

test("dpop: a server that keeps asking for a nonce gets one retry only", async () => {
  const server = new FakeDPoPServer();
  const c = dpopClient(server);
  await c.login("alice", "pw");
  server.alwaysNewNonce = true;
  const response = await c.fetch("/api/data");
  assert.equal(response.status, 401);
  assert.equal(server.seen.length, 4);
  assert.equal(server.refreshes, 0);
});

test("dpop: a stale nonce at the token endpoint is answered with the new one", async () => {
  const server = new FakeDPoPServer();
  const c = dpopClient(server);
  await c.login("alice", "pw");
  server.nonce = "n-rotated";
  server.now += 900 - 29; // within the refresh margin
  assert.deepEqual(await c.json("/api/data"), { token: "at-2", query: "" });
  assert.deepEqual(
    server.seen.slice(2).map((s) => s.path),
    ["/api/token/refresh", "/api/token/refresh", "/api/data"],
  );
  assert.equal(server.refreshes, 1);
});

test("dpop: concurrent calls share one refresh, made with a proof by the same key", async () => {
  const server = new FakeDPoPServer();
  const c = dpopClient(server);
  await c.login("alice", "pw");
  server.now += 900;
  const results = await Promise.all(Array.from({ length: 10 }, () => c.json("/api/data")));
  assert.equal(server.refreshes, 1);
  assert.ok(results.every((r) => r.token === "at-2"));
  assert.equal(server.tokens.get("at-2").jkt, await c.dpopThumbprint());
});

test("dpop: a 401 triggers one refresh and one retry; a refused refresh returns the 401", async () => {
  const server = new FakeDPoPServer();
  const c = dpopClient(server);
  await c.login("alice", "pw");
  server.tokens.clear();
  assert.deepEqual(await c.json("/api/data"), { token: "at-2", query: "" });
  server.tokens.clear();
  server.refreshTokens.clear();
  assert.equal((await c.fetch("/api/data")).status, 401);
  assert.equal(server.refreshes, 2);
  await assert.rejects(c.refresh(), (error) => error instanceof JwtgateError && error.status === 401);
  assert.equal(server.refreshes, 2); // the refused refresh token was forgotten, not sent again
});

test("dpop: the key is kept in the store and reused by the next client (a reload)", async () => {
  const store = new MemoryKeyStore();
  const first = new FakeDPoPServer();
  const a = dpopClient(first, store);
  await a.login("alice", "pw");
  const second = new FakeDPoPServer();
  const b = dpopClient(second, store);
  await b.login("alice", "pw");
  assert.equal(await a.dpopThumbprint(), await b.dpopThumbprint());
  assert.equal(first.tokens.get("at-1").jkt, second.tokens.get("at-1").jkt);
  const other = dpopClient(new FakeDPoPServer());
  assert.notEqual(await other.dpopThumbprint(), await a.dpopThumbprint());
});

test("dpop: two clients creating a key at once agree on the one stored first", async () => {
  const store = new MemoryKeyStore();
  const server = new FakeDPoPServer();
  const [x, y] = await Promise.all([dpopClient(server, store).dpopKey(), dpopClient(server, store).dpopKey()]);
  assert.equal(x, y);
});

test("dpop: a server with DPoP off gets Bearer requests without proofs", async () => {
  const server = new FakeDPoPServer();
  server.tokenType = "Bearer";
  const c = dpopClient(server);
  await c.login("alice", "pw");
  assert.equal(c.tokenType, "Bearer");
  const response = await c.fetch("/api/data");
  assert.equal(response.status, 401); // the fake API wants DPoP: shows what was sent
  const last = server.seen.at(-1);
  assert.equal(last.authorization, `Bearer ${last.authorization.split(" ")[1]}`);
  assert.equal(last.proof, null);
});

test("dpop: logout forgets the tokens", async () => {
  const server = new FakeDPoPServer();
  const c = dpopClient(server);
  await c.login("alice", "pw");
  await c.logout();
  const before = server.seen.length;
  await c.fetch("/api/data");
  assert.equal(server.seen[before].authorization, null);
});
