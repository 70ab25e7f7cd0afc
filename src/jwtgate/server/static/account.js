import { JwtgateClient } from "/static/jwtgate.js";
import { describeDevice, timeElement } from "/static/sessions.js";

const client = new JwtgateClient();
const who = document.getElementById("who");
const list = document.getElementById("sessions");
const message = document.getElementById("message");

function detail(fields, label, value) {
  const term = document.createElement("dt");
  term.textContent = label;
  const description = document.createElement("dd");
  description.append(value);
  fields.append(term, description);
}

function sessionCard(session, now) {
  const card = document.createElement("li");
  card.className = "session";
  const heading = document.createElement("h3");
  const device = document.createElement("span");
  device.className = "device";
  device.textContent = describeDevice(session.user_agent);
  if (session.user_agent) device.title = session.user_agent; // the raw string, for the curious
  heading.append(device);
  if (session.current) {
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.textContent = "this browser";
    heading.append(" ", badge);
  }
  const fields = document.createElement("dl");
  const ip = document.createElement("span");
  ip.className = "ip";
  ip.textContent = session.ip || "unknown";
  detail(fields, "IP", ip);
  detail(fields, "Signed in", timeElement(session.created_at, now));
  detail(fields, "Last used", timeElement(session.last_used_at, now));
  const button = document.createElement("button");
  button.textContent = "Revoke";
  button.addEventListener("click", async () => {
    await client.revokeSession(session.id);
    if (session.current) window.location.assign("/login");
    else render();
  });
  card.append(heading, fields, button);
  return card;
}

async function render() {
  try {
    const me = await client.me();
    who.textContent = me.username;
    const sessions = await client.sessions();
    const now = Date.now();
    list.replaceChildren(...sessions.map((session) => sessionCard(session, now)));
  } catch (error) {
    if (error.status === 401) window.location.assign("/login");
    else message.textContent = "Could not load the account.";
  }
}

document.getElementById("logout").addEventListener("click", async () => {
  await client.logout().catch(() => {});
  window.location.assign("/login");
});
document.getElementById("logout-all").addEventListener("click", async () => {
  await client.logoutAll().catch(() => {});
  window.location.assign("/login");
});

render();
