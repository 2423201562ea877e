// Live progress of a staff page's element with data-progress (a campaign that
// sends): while it carries data-live, the JSON at its data-progress URL is fetched
// every second with the tab's bearer token, and the element's parts are updated
// from it: each [data-field] by the field it names (per-minute and left are the
// rate and the time left as the page words them), the <progress> by percent, and
// of the [data-status] elements only the current status's is shown. Polling stops
// when the campaign is settled, or when the element leaves the page. Elements a
// script puts in the page later (the staff shell's fragments) are found too.
const KEY = "consentkit.session";
const EVERY = 1000;
const watched = new WeakSet();

// clock writes seconds as the page does: h:mm:ss, or a dash while unknown.
function clock(s) {
  if (s < 0) return "–";
  const pad = (n) => String(n).padStart(2, "0");
  return `${Math.floor(s / 3600)}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}`;
}

function show(el, p) {
  const values = { ...p, "per-minute": Math.round(p.rate * 60), left: clock(p.eta) };
  el.querySelectorAll("[data-field]").forEach((f) => {
    if (f.dataset.field in values) f.textContent = String(values[f.dataset.field]);
  });
  el.querySelectorAll("progress").forEach((bar) => {
    bar.value = p.percent;
    bar.textContent = `${p.percent} %`;
  });
  el.querySelectorAll("[data-status]").forEach((s) => (s.hidden = s.dataset.status !== p.status));
}

// settled: nothing about the campaign will change any more.
const settled = (p) => p.queued === 0 && (p.status === "sent" || p.status === "cancelled");

async function watch(el) {
  watched.add(el);
  while (el.isConnected && el.hasAttribute("data-live")) {
    const token = sessionStorage.getItem(KEY);
    const headers = { Accept: "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    let p;
    try {
      const res = await fetch(el.dataset.progress, { headers, credentials: "omit", cache: "no-store" });
      if (!res.ok) return; // signed out or gone: the page says what it said
      p = await res.json();
    } catch {
      p = null; // offline a moment: try again
    }
    if (p) {
      show(el, p);
      if (settled(p)) el.removeAttribute("data-live");
    }
    await new Promise((r) => setTimeout(r, EVERY));
  }
}

const LIVE = "[data-progress][data-live]";

function scan(root) {
  const found = [...root.querySelectorAll(LIVE)];
  if (root.matches?.(LIVE)) found.push(root);
  for (const el of found) if (!watched.has(el)) watch(el);
}

scan(document);
new MutationObserver((changes) => {
  for (const c of changes) for (const n of c.addedNodes) if (n.nodeType === Node.ELEMENT_NODE) scan(n);
}).observe(document.documentElement, { childList: true, subtree: true });
