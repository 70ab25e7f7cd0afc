import { JwtgateClient } from "/static/jwtgate.js";

const client = new JwtgateClient();
const form = document.getElementById("login");
const message = document.getElementById("message");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  message.textContent = "";
  try {
    await client.login(form.username.value, form.password.value);
    window.location.assign("/account");
  } catch (error) {
    message.textContent = error.status === 429 ? "Too many attempts, try again later." : "Wrong username or password.";
  } finally {
    form.password.value = "";
  }
});
