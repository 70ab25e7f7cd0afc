import { JwtgateClient } from "/static/jwtgate.js";

const client = new JwtgateClient();
const who = document.getElementById("who");
const table = document.getElementById("sessions");
const message = document.getElementById("message");

function cell(row, text) {
  const td = row.insertCell();
  td.textContent = text;
  return td;
}

function when(seconds) {
  return new Date(seconds * 1000).toLocaleString();
}

async function render() {
  try {
    const me = await client.me();
    who.textContent = me.username;
    const sessions = await client.sessions();
    table.replaceChildren();
    for (const session of sessions) {
      const row = table.insertRow();
      cell(row, session.current ? "this browser" : session.user_agent || "unknown");
      cell(row, session.ip || "-");
      cell(row, when(session.created_at));
      cell(row, when(session.last_used_at));
      const button = document.createElement("button");
      button.textContent = "Revoke";
      button.addEventListener("click", async () => {
        await client.revokeSession(session.id);
        if (session.current) window.location.assign("/login");
        else render();
      });
      cell(row, "").append(button);
    }
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
