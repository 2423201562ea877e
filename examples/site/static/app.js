// The site's one script. Public pages work without it; signed-in pages use it to
// keep the session token in this tab's sessionStorage (never a cookie) and to send
// it as "Authorization: Bearer" with every API call.
const KEY = "consentkit.session";

const token = () => sessionStorage.getItem(KEY);

async function api(path, opts = {}) {
  const headers = new Headers(opts.headers || {});
  if (!headers.has("Accept")) headers.set("Accept", "application/json");
  if (token()) headers.set("Authorization", "Bearer " + token());
  if (opts.json !== undefined) {
    headers.set("Content-Type", "application/json");
    opts.body = JSON.stringify(opts.json);
  }
  const res = await fetch(path, { ...opts, headers, credentials: "omit" });
  const type = res.headers.get("Content-Type") || "";
  const body = type.includes("json") ? await res.json() : await res.text();
  if (res.status === 401) sessionStorage.removeItem(KEY);
  if (!res.ok) {
    const msg = body && body.error ? body.error.message + (body.error.field ? " (" + body.error.field + ")" : "") : res.statusText;
    throw new Error(msg);
  }
  return body;
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c ?? "")));
  return e;
}

// A sign-in page hands over the token once; keep it in this tab and leave.
function adoptToken() {
  const out = document.getElementById("session-token");
  if (!out || !out.dataset.token) return;
  sessionStorage.setItem(KEY, out.dataset.token);
  out.remove();
  // Leave once the page has loaded, so the navigation does not abort its load.
  const go = () => location.replace("/member");
  if (document.readyState === "complete") go();
  else addEventListener("load", go, { once: true });
}

async function showSession() {
  if (!token()) return null;
  let me;
  try {
    me = await api("/accounts/me");
  } catch {
    return null;
  }
  document.querySelectorAll(".signed-in").forEach((e) => (e.hidden = false));
  document.querySelectorAll(".signed-out").forEach((e) => (e.hidden = true));
  const account = me.account || me;
  if ((account.roles || []).length) document.querySelectorAll(".staff-only").forEach((e) => (e.hidden = false));
  document.getElementById("signout")?.addEventListener("click", async () => {
    try { await api("/accounts/signout", { method: "POST" }); } catch {}
    sessionStorage.removeItem(KEY);
    location.assign("/");
  });
  return account;
}

async function member(account) {
  const me = document.getElementById("me");
  me.textContent = "Signed in as " + (account.display_name || account.email) + ".";
  const list = document.getElementById("resources");
  async function refresh() {
    const { resources } = await api("/accounts/me/resources");
    list.replaceChildren(...(resources || []).map((r) => {
      const item = el("li", { "data-kind": r.kind }, r.kind + ": " + r.title + " (" + r.visibility + ") ");
      const del = el("button", { type: "button", onclick: async () => {
        await api("/accounts/resources/" + encodeURIComponent(r.id), { method: "DELETE" });
        refresh();
      } }, "Delete");
      item.append(del);
      return item;
    }));
  }
  const status = (form, text) => (form.querySelector(".status").textContent = text);
  document.getElementById("upload-photo").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    try {
      await api("/accounts/me/resources", { method: "POST", body: new FormData(f) });
      status(f, "Uploaded.");
      f.reset();
      refresh();
    } catch (e) { status(f, e.message); }
  });
  document.getElementById("write-note").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    const data = Object.fromEntries(new FormData(f));
    try {
      await api("/accounts/me/resources", { method: "POST", json: { kind: "note", visibility: "private", ...data } });
      status(f, "Saved.");
      f.reset();
      refresh();
    } catch (e) { status(f, e.message); }
  });
  document.getElementById("export-me").addEventListener("click", async () => {
    const data = await stepUp(() => api("/accounts/me/export"));
    const url = URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)], { type: "application/json" }));
    el("a", { href: url, download: "my-data.json" }).click();
    URL.revokeObjectURL(url);
  });
  refresh();
  security();
}

// stepUp runs call; when the server asks for a fresh proof (the field "proof"),
// it shows the step-up form and, once the password or a code is confirmed, runs
// call again.
async function stepUp(call) {
  try {
    return await call();
  } catch (e) {
    if (!e.message.endsWith("(proof)")) throw e;
  }
  const form = document.getElementById("step-up");
  form.hidden = false;
  form.querySelector("input").focus();
  await new Promise((done) => {
    const submit = async (ev) => {
      ev.preventDefault();
      const { password, code } = Object.fromEntries(new FormData(form));
      try {
        await api("/accounts/me/confirm", { method: "POST", json: password ? { password } : { code } });
      } catch (err) {
        form.querySelector(".status").textContent = err.message;
        return;
      }
      form.removeEventListener("submit", submit);
      form.reset();
      form.hidden = true;
      done();
    };
    form.addEventListener("submit", submit);
  });
  return call();
}

// security shows the member's second factor and sessions, and deletes the account.
async function security() {
  const show = (id, on) => (document.getElementById(id).hidden = !on);
  const status = (form, text) => (form.querySelector(".status").textContent = text);
  async function factors() {
    const { factors, recovery_codes } = await api("/accounts/me/factors");
    const on = (factors || []).find((f) => f.kind === "totp" && f.confirmed);
    show("totp-on", !!on);
    show("totp-off", !on);
    document.getElementById("recovery-left").textContent = on ? recovery_codes + " recovery codes left." : "";
    return on;
  }
  let enrolment;
  document.getElementById("totp-start").addEventListener("click", async () => {
    enrolment = await api("/accounts/me/factors/totp", { method: "POST", json: {} });
    document.getElementById("totp-qr").src = enrolment.qr;
    document.getElementById("totp-secret").textContent = enrolment.secret;
    show("totp-confirm", true);
  });
  document.getElementById("totp-confirm").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    try {
      const { recovery_codes } = await api("/accounts/me/factors/totp/confirm", { method: "POST", json: { id: enrolment.id, code: f.code.value } });
      document.getElementById("recovery-codes").replaceChildren(...recovery_codes.map((c) => el("li", {}, el("code", {}, c))));
      show("recovery", true);
      f.reset();
      show("totp-confirm", false);
      factors();
    } catch (e) { status(f, e.message); }
  });
  document.getElementById("totp-disable").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    const on = await factors();
    if (!on) return;
    try {
      await stepUp(() => api(`/accounts/me/factors/${on.id}/disable`, { method: "POST", json: { code: f.code.value } }));
      f.reset();
      show("recovery", false);
      factors();
    } catch (e) { status(f, e.message); }
  });

  const list = document.getElementById("sessions");
  async function sessions() {
    const { sessions: all } = await api("/accounts/me/sessions");
    list.replaceChildren(...all.map((s) => {
      const when = "signed in " + new Date(s.created).toLocaleString() + ", last used " + new Date(s.last_seen).toLocaleString();
      const item = el("li", { "data-current": s.current }, (s.device || "An unknown browser") + ", " + when + (s.current ? " (this one)" : " "));
      if (!s.current) item.append(el("button", { type: "button", onclick: async () => {
        await api(`/accounts/me/sessions/${s.id}/revoke`, { method: "POST", json: {} });
        sessions();
      } }, "Sign it out"));
      return item;
    }));
  }
  document.getElementById("revoke-others").addEventListener("click", async () => {
    const { ended } = await api("/accounts/me/sessions/others/revoke", { method: "POST", json: {} });
    document.getElementById("sessions-status").textContent = ended + " other sessions ended.";
    sessions();
  });
  document.getElementById("delete-me").addEventListener("click", async () => {
    const out = document.getElementById("delete-status");
    try {
      await stepUp(() => api("/accounts/me/delete", { method: "POST", json: {} }));
    } catch (e) {
      out.textContent = e.message;
      return;
    }
    sessionStorage.removeItem(KEY);
    document.querySelector(".signed-in").replaceChildren(el("p", { id: "deleted", role: "status" }, "Your account and everything it held are deleted."));
  });
  factors();
  sessions();
}

// table renders every array of records in a JSON answer.
function table(rows, actions) {
  if (!rows.length) return el("p", {}, "Nothing here.");
  const cols = Object.keys(rows[0]).filter((c) => !["html", "markdown", "text", "data"].includes(c));
  const t = el("table", {}, el("thead", {}, el("tr", {}, ...cols.map((c) => el("th", { scope: "col" }, c)), actions ? el("th", {}, "") : "")));
  const body = el("tbody");
  for (const r of rows) {
    const tr = el("tr", {}, ...cols.map((c) => el("td", {}, typeof r[c] === "object" ? JSON.stringify(r[c]) : r[c])));
    if (actions) tr.append(el("td", {}, ...actions(r)));
    body.append(tr);
  }
  t.append(body);
  return t;
}

async function staff() {
  const view = document.getElementById("staff-view");
  const show = async (path, title) => {
    view.replaceChildren(el("h2", {}, title), el("p", {}, "Loading…"));
    try {
      if (path === "campaigns") return campaigns(view);
      // The usage report is a server-rendered page with SVG charts; the rest is JSON.
      const data = await api(path, { headers: { Accept: path === "/stats/" ? "text/html" : "application/json" } });
      const out = [el("h2", {}, title)];
      if (typeof data === "string") {
        const doc = new DOMParser().parseFromString(data, "text/html");
        const main = doc.querySelector("main");
        if (main) { main.querySelector("h1")?.remove(); out.push(...main.childNodes); }
      } else {
        for (const [key, rows] of Object.entries(data)) {
          if (!Array.isArray(rows)) continue;
          out.push(el("h3", {}, key), table(rows, path === "/comments/moderate" ? moderation(() => show(path, title)) : null));
        }
      }
      view.replaceChildren(...out);
    } catch (e) {
      view.replaceChildren(el("h2", {}, title), el("p", { class: "error", role: "alert" }, e.message));
    }
  };
  document.querySelectorAll("[data-load]").forEach((b) => b.addEventListener("click", () => show(b.dataset.load, b.dataset.title)));
}

function moderation(reload) {
  return (c) => ["approve", "reject", "delete"].map((a) =>
    el("button", { type: "button", onclick: async () => { await api(`/comments/moderate/${c.id}/${a}`, { method: "POST", json: {} }); reload(); } }, a));
}

async function campaigns(view) {
  const { campaigns } = await api("/newsletter/api/campaigns");
  const formT = document.getElementById("campaign-form").content.cloneNode(true);
  const progress = el("p", { role: "status" });
  view.replaceChildren(el("h2", {}, "Campaigns"), progress, table(campaigns || [], (c) => c.status === "draft" ? [
    el("button", { type: "button", onclick: async () => {
      await api(`/newsletter/api/campaigns/${c.id}/schedule`, { method: "POST", json: { at: "" } });
      watch(c.id, progress);
    } }, "Send now"),
  ] : [el("button", { type: "button", onclick: () => watch(c.id, progress) }, "Progress")]), formT);
  view.querySelector("#new-campaign").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    try {
      await api("/newsletter/api/campaigns", { method: "POST", json: Object.fromEntries(new FormData(f)) });
      campaigns(view);
    } catch (e) { f.querySelector(".status").textContent = e.message; }
  });
}

// watch shows a campaign's progress live while it sends.
async function watch(id, out) {
  for (;;) {
    const p = await api(`/newsletter/api/campaigns/${id}/progress`);
    const prog = p.progress || p;
    out.textContent = `Campaign ${id}: ${prog.sent} sent, ${prog.queued} queued, ${prog.failed} failed of ${prog.total}.`;
    if (prog.total && prog.sent + prog.failed >= prog.total) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

adoptToken();
const account = await showSession();
const app = document.querySelector("[data-app]")?.dataset.app;
if (account && app === "member") member(account);
if (account && app === "staff") staff();
