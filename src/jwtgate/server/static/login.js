import { JwtgateClient } from "/static/jwtgate.js";

const client = new JwtgateClient();
// Back to an authorization request after signing in; only that path, never an arbitrary URL.
const next = new URLSearchParams(window.location.search).get("next");
const destination = next && next.startsWith("/oauth/authorize?") ? next : "/account";
const form = document.getElementById("login");
const message = document.getElementById("message");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  message.textContent = "";
  try {
    await client.login(form.username.value, form.password.value);
    window.location.assign(destination);
  } catch (error) {
    message.textContent = error.status === 429 ? "Too many attempts, try again later." : "Wrong username or password.";
  } finally {
    form.password.value = "";
  }
});
