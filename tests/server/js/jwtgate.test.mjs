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
