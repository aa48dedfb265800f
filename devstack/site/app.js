// Live view: polls the demo server's /api/state (which reads the sandbox server-side) and renders it.
"use strict";

const REFRESH_MS = 3000;
const NOTICES = {
  form: "Form sent to create-items: queued at once, the item appears below within seconds, its image a moment later.",
  webhook: "Form submitted on Webflow: the webhook is on its way to create-items.",
  error: "The submission failed: see the terminal running the stack.",
};

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(child ?? ""));
  }
  return node;
}

function safeUrl(url) {
  return typeof url === "string" && /^https?:\/\//.test(url) ? url : null;
}

function image(url, alt) {
  const src = safeUrl(url);
  return src ? el("img", { src, alt, loading: "lazy" }) : el("span", { class: "no-image" }, "no image");
}

function renderCollection(name, collection) {
  const rows = collection.items.map((item) =>
    el("tr", { "data-item-id": item.id, "data-slug": item.slug ?? "", class: "item" },
      el("td", {}, image(item.image, item.name ?? "")),
      el("td", { class: "item-name" }, item.name ?? ""),
      el("td", {}, el("code", {}, item.slug ?? "")),
      el("td", { class: "status" }, item.status),
      el("td", { class: "live-flag" }, item.live ? "live" : "staged only")));
  const totals = `${collection.stagedTotal ?? "?"} staged, ${collection.liveTotal ?? "?"} live`;
  return el("article", { class: "collection", "data-collection": name },
    el("h3", {}, name, " ", el("small", {}, totals)),
    collection.error ? el("p", { class: "error" }, collection.error) : "",
    rows.length
      ? el("table", {}, el("thead", {}, el("tr", {}, ...["image", "name", "slug", "status", "live"].map((h) => el("th", {}, h)))),
          el("tbody", {}, ...rows))
      : el("p", { class: "hint" }, "no items yet"));
}

function render(state) {
  const collections = document.getElementById("collections");
  collections.replaceChildren(...Object.entries(state.collections).map(([name, c]) => renderCollection(name, c)));
  document.getElementById("assets-total").textContent =
    state.assetsError ? `(${state.assetsError})` : `(${state.assetsTotal})`;
  document.getElementById("assets").replaceChildren(...state.assets.map((asset) =>
    el("figure", { "data-asset-id": asset.id }, image(asset.url, asset.fileName ?? ""),
      el("figcaption", {}, `${asset.fileName ?? asset.id} · ${asset.size ?? "?"} bytes`))));
  const intake = document.getElementById("intake");
  if (state.intake) {
    const { queued, done, failed } = state.intake;
    intake.dataset.queued = queued;
    intake.dataset.done = done;
    intake.dataset.failed = failed;
    intake.textContent = `Intake queue: ${queued} queued, ${done} created, ${failed} failed`;
  } else {
    intake.textContent = state.intakeError ? `Intake queue: (${state.intakeError})` : "";
  }
  document.getElementById("read-at").textContent = `read at ${state.readAt}`;
}

async function refresh() {
  try {
    const response = await fetch("/api/state", { cache: "no-store" });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error ?? response.statusText);
    render(body);
  } catch (error) {
    document.getElementById("read-at").textContent = `(cannot read the sandbox: ${error.message})`;
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}

// create-items redirects a failed post here with ?error=code&message=...&field=name: problem.
function showNotice(params) {
  const sent = params.get("sent");
  if (!sent || !NOTICES[sent]) return;
  const notice = document.getElementById("notice");
  const reasons = [params.get("message"), ...params.getAll("field")].filter(Boolean);
  notice.textContent =
    sent === "error" && reasons.length
      ? `The submission failed: ${reasons.join("; ")}.`
      : NOTICES[sent];
  notice.classList.toggle("error", sent === "error");
}

showNotice(new URLSearchParams(location.search));
refresh();
