// The site's one script. Public pages work without it; signed-in pages use it to
// keep the session token in this tab's sessionStorage (never a cookie) and to send
// it as "Authorization: Bearer" with every API call.
import * as passkey from "./passkeys.js";

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

// NEXT holds, in this tab, the page to return to once signed in: a staff link
// opened from a mail lands on sign-in first, then on what it points to.
const NEXT = "consentkit.next";

// A sign-in page hands over the token once; keep it in this tab and leave.
function adoptToken() {
  const out = document.getElementById("session-token");
  if (!out || !out.dataset.token) return;
  out.remove();
  signedIn(out.dataset.token);
}

// signedIn keeps a new session's token in this tab and leaves for the page
// that waited for it, or the member area.
function signedIn(tok) {
  sessionStorage.setItem(KEY, tok);
  const next = sessionStorage.getItem(NEXT) || "";
  sessionStorage.removeItem(NEXT);
  const to = next.startsWith("/") && !next.startsWith("//") ? next : "/member";
  // Leave once the page has loaded, so the navigation does not abort its load.
  const go = () => location.replace(to);
  if (document.readyState === "complete") go();
  else addEventListener("load", go, { once: true });
}

// passkeySignin lets the sign-in pages' hidden passkey buttons work where the
// browser has passkeys: alone (data-passkey-signin), or after the password in
// place of a code (data-passkey-second, with the challenge and the options).
function passkeySignin() {
  if (!passkey.available()) return;
  for (const p of document.querySelectorAll("[data-passkey-signin], [data-passkey-second]")) {
    p.hidden = false;
    const out = p.querySelector(".status");
    p.querySelector("button").addEventListener("click", async () => {
      out.textContent = "";
      try {
        let ceremony = p.dataset.challenge;
        let options = p.dataset.options && JSON.parse(p.dataset.options);
        if (!ceremony) ({ ceremony, options } = await api(p.dataset.passkeySignin + "/signin/passkey/begin", { method: "POST", json: {} }));
        const credential = await passkey.get(options);
        const base = p.dataset.passkeySignin || p.dataset.passkeySecond;
        const res = await api(base + "/signin/passkey", { method: "POST", json: { ceremony, credential } });
        signedIn(res.token);
      } catch (e) { out.textContent = e.message; }
    });
  }
}

// forget empties everything private a page shows, and shows it signed out.
function forget() {
  document.querySelectorAll("[data-private]").forEach((e) => e.replaceChildren());
  document.querySelectorAll(".signed-in, .staff-only, #staff-nav").forEach((e) => (e.hidden = true));
  document.querySelectorAll(".signed-out").forEach((e) => (e.hidden = false));
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
    // Emptied before leaving: the back-forward cache keeps the page as it is now.
    forget();
    location.assign("/");
  });
  return account;
}

// thumbnail shows a photo's thumbnail, fetched with the token (an <img src> could
// not send it) and shown from a blob: URL.
function thumbnail(r) {
  const img = el("img", { alt: r.title || "Photo", class: "thumbnail" });
  fetch("/accounts/resources/" + encodeURIComponent(r.id) + "/thumbnail", { headers: { Authorization: "Bearer " + token() }, credentials: "omit" })
    .then((res) => (res.ok ? res.blob() : Promise.reject(new Error(res.statusText))))
    .then((blob) => (img.src = URL.createObjectURL(blob)))
    .catch(() => img.remove());
  return img;
}

async function member(account) {
  const me = document.getElementById("me");
  me.textContent = "Signed in as " + (account.display_name || account.email) + ".";
  const list = document.getElementById("resources");
  async function refresh() {
    const { resources } = await api("/accounts/me/resources");
    list.replaceChildren(...(resources || []).map((r) => {
      const item = el("li", { "data-kind": r.kind }, r.kind + ": " + r.title + " (" + r.visibility + ") ");
      if (r.kind === "photo") item.prepend(thumbnail(r));
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
  const withKey = document.getElementById("step-up-passkey");
  form.hidden = false;
  form.querySelector("input").focus();
  await new Promise((done) => {
    const confirm = async (proof) => {
      try {
        await proof();
      } catch (err) {
        form.querySelector(".status").textContent = err.message;
        return;
      }
      form.removeEventListener("submit", submit);
      withKey.removeEventListener("click", key);
      form.reset();
      form.hidden = true;
      done();
    };
    const submit = (ev) => {
      ev.preventDefault();
      const { password, code } = Object.fromEntries(new FormData(form));
      confirm(() => api("/accounts/me/confirm", { method: "POST", json: password ? { password } : { code } }));
    };
    const key = () => confirm(async () => {
      const { ceremony, options } = await api("/accounts/me/confirm/passkey/begin", { method: "POST", json: {} });
      const credential = await passkey.get(options);
      await api("/accounts/me/confirm/passkey", { method: "POST", json: { ceremony, credential } });
    });
    form.addEventListener("submit", submit);
    withKey.addEventListener("click", key);
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
  passkeys();
}

// passkeys lists the member's passkeys, adds one and removes one; the step-up
// form offers one as the proof once there is one.
async function passkeys() {
  const list = document.getElementById("passkeys");
  const form = document.getElementById("passkey-add");
  const status = (text) => (form.querySelector(".status").textContent = text);
  const day = (t) => new Date(t).toLocaleDateString();
  async function refresh() {
    const { passkeys: all } = await api("/accounts/me/passkeys");
    document.getElementById("step-up-passkey").hidden = !all.length || !passkey.available();
    list.replaceChildren(...all.map((k) => el("li", { "data-passkey": k.id },
      k.name + ", added " + day(k.created) + (k.last_used ? ", last used " + day(k.last_used) : ", not used yet") + " ",
      el("button", { type: "button", onclick: async () => {
        try {
          await stepUp(() => api("/accounts/me/passkeys/" + encodeURIComponent(k.id), { method: "DELETE" }));
          status("Passkey removed.");
        } catch (e) { status(e.message); }
        refresh();
      } }, "Remove"))));
  }
  if (!passkey.available()) {
    status("This browser cannot use passkeys.");
    form.querySelector("button").disabled = true;
  }
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    status("");
    try {
      const { ceremony, options } = await stepUp(() => api("/accounts/me/passkeys/begin", { method: "POST", json: {} }));
      const credential = await passkey.create(options);
      await api("/accounts/me/passkeys", { method: "POST", json: { ceremony, name: form.name.value, credential } });
      form.reset();
      status("Passkey added.");
    } catch (e) { status(e.message); }
    refresh();
  });
  refresh();
}

// The staff shell: each staff URL's page is fetched with the token and shown in
// #staff-view; see staff.go in the site.
const staffView = () => document.getElementById("staff-view");

function showSignin() {
  forget();
  document.getElementById("staff-signin").hidden = false;
  document.getElementById("staff-signin-link").addEventListener("click", () =>
    sessionStorage.setItem(NEXT, location.pathname + location.search));
}

function staffNav(account) {
  const roles = account.roles || [];
  const nav = document.getElementById("staff-nav");
  for (const a of nav.querySelectorAll("a")) {
    a.hidden = !roles.includes("admin") && !a.dataset.roles.split(" ").some((r) => roles.includes(r));
    const here = location.pathname === a.pathname || location.pathname.startsWith(a.pathname.replace(/\/?$/, "/"));
    if (here) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  nav.hidden = false;
}

// fragment fetches url's page with the token, as the shell's content.
function fragment(url, init = {}) {
  const headers = new Headers(init.headers || {});
  headers.set("Authorization", "Bearer " + token());
  headers.set("X-Consentkit-Fragment", "1");
  headers.set("Accept", "text/html");
  return fetch(url, { ...init, headers, credentials: "omit" });
}

// show puts a fetched page in the shell: its body, its title, and the focus on
// the title so that a screen reader announces the new page.
async function show(res, url, focus) {
  const view = staffView();
  if (res.status === 401) {
    sessionStorage.removeItem(KEY);
    showSignin();
    return;
  }
  const title = decodeURIComponent(res.headers.get("X-Consentkit-Title") || "");
  if ((res.headers.get("Content-Type") || "").includes("json")) {
    // Only an error is JSON here: a session that cannot be checked right now.
    const body = await res.json();
    view.replaceChildren(el("p", { class: "error", role: "alert" }, body.error?.message || res.statusText));
  } else {
    const doc = new DOMParser().parseFromString(await res.text(), "text/html");
    view.replaceChildren(...doc.body.childNodes);
  }
  const h1 = document.getElementById("page-title");
  if (title) {
    h1.textContent = title;
    document.title = title + " · " + document.body.dataset.site;
  }
  view.querySelectorAll("time[datetime]").forEach(localTime);
  view.dataset.loaded = url.pathname + url.search;
  if (focus) h1.focus();
}

// localTime shows a UTC time in the reader's own zone.
function localTime(t) {
  const d = new Date(t.getAttribute("datetime"));
  if (isNaN(d)) return;
  t.title = t.textContent;
  t.textContent = t.dataset.date === "" ? d.toLocaleDateString([], { dateStyle: "medium" }) : d.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}

async function load(url, focus) {
  url = new URL(url, location.href);
  delete staffView().dataset.loaded;
  try {
    await show(await fragment(url), url, focus);
  } catch (e) {
    staffView().replaceChildren(el("p", { class: "error", role: "alert" }, "The page could not be loaded: " + e.message));
  }
}

// submit sends a form of the shown page with the token, follows its answer (a 303
// to the page to show next, or the form again with its errors) and shows it.
async function submit(ev) {
  const form = ev.target;
  if (!(form instanceof HTMLFormElement)) return;
  ev.preventDefault();
  const action = new URL(form.getAttribute("action") || location.href, location.href);
  const data = new FormData(form, ev.submitter);
  const buttons = form.querySelectorAll("button");
  buttons.forEach((b) => (b.disabled = true));
  try {
    if ((form.getAttribute("method") || "get").toLowerCase() === "get") {
      action.search = new URLSearchParams(data).toString();
      history.pushState(null, "", action);
      staffNav(await staffAccount);
      await load(action, true);
      return;
    }
    const body = form.enctype === "multipart/form-data" ? data : new URLSearchParams(data);
    const res = await fragment(action, { method: "POST", body });
    const to = new URL(res.url);
    if (res.redirected && to.href !== location.href) history.pushState(null, "", to);
    staffNav(await staffAccount);
    await show(res, to, true);
  } catch (e) {
    staffView().prepend(el("p", { class: "error", role: "alert" }, "Not sent: " + e.message));
  } finally {
    buttons.forEach((b) => (b.disabled = false));
  }
}

let staffAccount;

function staff(account) {
  if (!account) {
    showSignin();
    return;
  }
  staffAccount = Promise.resolve(account);
  staffNav(account);
  staffView().addEventListener("submit", submit);
  addEventListener("popstate", () => {
    staffNav(account);
    load(location.href, true);
  });
  load(location.href, false);
}

// A page restored by Back after signing out shows nothing private.
addEventListener("pageshow", () => {
  if (!token()) forget();
});

adoptToken();
passkeySignin();
const account = await showSession();
const app = document.querySelector("[data-app]")?.dataset.app;
if (account && app === "member") member(account);
if (app === "staff") staff(account);
