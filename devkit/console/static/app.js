// The purchases console: plain JavaScript, no build step, nothing fetched from anywhere but the console's own
// server (which proxies the API with a server-side token) and the stack's WebSocket API (live changes).
"use strict";

const PAGE_SIZE = 15;
const FIELDS = ["ProductName", "ProductId", "ProductDescription", "Category", "TimeOfPurchase",
  "PricePerUnit", "Quantity", "TotalPrice", "CustomerName", "CustomerId"];
const OPTIONAL = new Set(["ProductDescription", "TotalPrice"]);
const KEEPALIVE_MS = 4 * 60 * 1000;  // API Gateway drops a WebSocket idle for 10 minutes
const QUEUE_REFRESH_MS = 5000;       // queue depth has no push channel: the console server is asked
const JOURNEY_RETRY_MS = 1500;       // a fresh write's later steps reach the logs a moment after it is shown
const JOURNEY_TRIES = 12;

const $ = (id) => document.getElementById(id);
const state = {
  cursors: [null],       // cursor of each page visited; the last one is the current page's
  next: null,
  rows: new Map(),       // ProductPurchaseId -> purchase shown on this page
  editing: null,         // id being edited, or null when creating
  pending: new Map(),    // id -> what we are waiting to see applied
  socket: null,
  retry: 0,
};

// ------------------------------------------------------------------ server calls
// The run's key, from the URL `invoke console` printed: kept for this tab only and taken out of the address bar
// (so it is not in the history or a shared screenshot). Every call to the console's server carries it.
const KEY = (() => {
  const url = new URL(window.location.href);
  const fromUrl = url.searchParams.get("key");
  if (fromUrl) {
    sessionStorage.setItem("console-key", fromUrl);
    url.searchParams.delete("key");
    window.history.replaceState(null, "", url.pathname + url.search + url.hash);
  }
  return fromUrl || sessionStorage.getItem("console-key") || "";
})();

async function api(method, path, body) {
  const options = { method, headers: { "X-Purchase-Console": "1", "X-Console-Key": KEY } };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const reply = await fetch(path, options);
  let document = null;
  try { document = await reply.json(); } catch (_) { document = null; }
  return { status: reply.status, ok: reply.ok, body: document };
}

// ------------------------------------------------------------------ formatting
function text(tag, content, className) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (content !== undefined && content !== null) node.textContent = String(content);
  return node;
}
function money(value) {
  if (value === undefined || value === null) return "";
  const number = Number(value);
  return Number.isFinite(number)
    ? number.toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 6 }) : String(value);
}
function when(iso) {
  const cell = text("td", null, "when");
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) {
    cell.textContent = iso || "";
  } else {
    cell.append(text("span", date.toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" })),
      text("span", date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", hour12: false }), "sub"));
  }
  cell.title = iso || "";
  return cell;
}
function clock(date = new Date()) {
  return date.toLocaleTimeString(undefined, { hour12: false });
}
function toast(message, kind = "") {
  const node = text("div", message, `toast ${kind}`);
  $("toasts").append(node);
  setTimeout(() => node.remove(), 3800);
}

// ------------------------------------------------------------------ the table
function rowFor(purchase) {
  const tr = document.createElement("tr");
  tr.dataset.id = purchase.ProductPurchaseId;
  // The product and customer share what the other columns leave, cut short with an ellipsis (the full text is
  // the cell's tooltip), so the row's actions always fit.
  const product = text("td", null, "text-col");
  product.append(text("span", purchase.ProductName, "product name"),
    text("span", purchase.ProductDescription || purchase.ProductId, "sub"));
  product.title = [purchase.ProductName, purchase.ProductDescription || purchase.ProductId].join("\n");
  const category = document.createElement("td");
  category.append(text("span", purchase.Category, "tag"));
  const customer = text("td", null, "text-col");
  customer.append(text("span", purchase.CustomerName, "name"), text("span", purchase.CustomerId, "sub"));
  customer.title = [purchase.CustomerName, purchase.CustomerId].join("\n");
  const actions = text("td", null, "actions-col");
  const edit = text("button", "Edit", "small ghost");
  edit.type = "button";
  edit.dataset.action = "edit";
  edit.addEventListener("click", () => startEdit(purchase.ProductPurchaseId));
  const remove = text("button", "Delete", "small ghost danger");
  remove.type = "button";
  remove.dataset.action = "delete";
  remove.addEventListener("click", () => askDelete(remove, purchase.ProductPurchaseId));
  actions.append(edit, remove);
  tr.append(product, category, customer, text("td", purchase.Quantity, "num"),
    text("td", money(purchase.PricePerUnit), "num"), text("td", money(purchase.TotalPrice), "num total"),
    when(purchase.TimeOfPurchase), actions);
  if (state.editing === purchase.ProductPurchaseId) tr.classList.add("selected");
  tr.title = "Click to see its journey through the stack";
  tr.addEventListener("click", (event) => {
    if (!event.target.closest("button")) showJourney(purchase.ProductPurchaseId);
  });
  return tr;
}

// ------------------------------------------------------------------ a purchase's journey (`invoke trace`)
function waterfall(journey) {
  const block = text("div", null, "journey-block");
  const began = new Date(journey.startMs);
  block.append(text("div", `${journey.action || "write"} · ${clock(began)} · ${Math.round(journey.durationMs)} ms end to end · correlation id ${journey.correlationId}`, "journey-head"));
  const total = Math.max(journey.durationMs, 1);
  for (const step of journey.steps) {
    const row = text("div", null, "step");
    row.dataset.step = step.step;
    const track = text("div", null, "track");
    const bar = text("span", null, `bar ${step.step.replace(/\s+/g, "-")}`);
    bar.style.left = `${(100 * step.offsetMs) / total}%`;
    bar.style.width = `${Math.max((100 * step.durationMs) / total, 0.4)}%`;
    bar.title = `${step.step}: +${Math.round(step.offsetMs)} ms, ${Math.round(step.durationMs)} ms`;
    track.append(bar);
    row.append(text("span", step.step, "label"), track, text("span", `${Math.round(step.durationMs)} ms`, "took"),
      text("span", step.detail, "detail"));
    block.append(row);
  }
  return block;
}

async function showJourney(id, tries = JOURNEY_TRIES) {
  state.journeyFor = id;
  $("journey").hidden = false;
  $("journey-id").textContent = id;
  $("journey-status").textContent = "reading the logs…";
  const reply = await api("GET", `/api/trace/${encodeURIComponent(id)}`);
  if (state.journeyFor !== id) return;  // another purchase was clicked meanwhile
  const journeys = reply.ok ? reply.body.journeys : [];
  const complete = journeys.length && journeys.every((journey) => journey.steps.some((step) => step.step === "notifier"));
  if (journeys.length) $("journeys").replaceChildren(...journeys.map(waterfall));
  else $("journeys").replaceChildren(text("p", (reply.body && reply.body.message) || `Error ${reply.status}`, "none"));
  if (!complete && tries > 1 && reply.status !== 502) {
    $("journey-status").textContent = "waiting for its later steps…";
    setTimeout(() => { if (state.journeyFor === id) showJourney(id, tries - 1); }, JOURNEY_RETRY_MS);
    return;
  }
  $("journey-status").textContent = complete ? "" : "not every step is in the logs";
  $("journey").dataset.ready = journeys.length ? "1" : "0";
}

function renderCount() {
  const shown = state.rows.size;
  $("count").textContent = shown === 1 ? "1 on this page" : `${shown} on this page`;
  $("empty").hidden = shown > 0;
}

function renderPage(items) {
  state.rows = new Map(items.map((purchase) => [purchase.ProductPurchaseId, purchase]));
  $("rows").replaceChildren(...items.map(rowFor));
  $("page-label").textContent = `Page ${state.cursors.length}`;
  $("prev").disabled = state.cursors.length <= 1;
  $("next").disabled = !state.next;
  renderCount();
}

async function loadPage() {
  const cursor = state.cursors[state.cursors.length - 1];
  const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (cursor) query.set("cursor", cursor);
  const reply = await api("GET", `/api/purchases?${query}`);
  if (!reply.ok) {
    toast(`Could not list purchases: ${(reply.body && reply.body.message) || reply.status}`, "bad");
    return;
  }
  state.next = reply.body.next;
  renderPage(reply.body.items);
}

function flash(tr, kind) {
  tr.classList.remove("flash-created", "flash-updated");
  void tr.offsetWidth;  // restart the animation
  tr.classList.add(`flash-${kind}`);
}

// ------------------------------------------------------------------ live changes
function applyChange(message) {
  const id = message.ProductPurchaseId;
  const existing = $("rows").querySelector(`tr[data-id="${CSS.escape(id)}"]`);
  if (message.type === "purchase.deleted") {
    state.rows.delete(id);
    if (existing) {
      existing.classList.add("leaving");
      existing.dataset.leaving = "1";
      setTimeout(() => { existing.remove(); renderCount(); }, 650);
    }
    if (state.editing === id) resetForm();
  } else if (message.purchase) {
    const tr = rowFor(message.purchase);
    if (existing) {
      existing.replaceWith(tr);
      flash(tr, "updated");
    } else if (message.type === "purchase.created" && state.cursors.length === 1) {
      $("rows").prepend(tr);
      flash(tr, "created");
    } else {
      return addFeed(message);
    }
    state.rows.set(id, message.purchase);
  }
  renderCount();
  addFeed(message);
}

function addFeed(message) {
  const kind = message.type.replace("purchase.", "");
  const feed = $("feed");
  feed.querySelector(".none")?.remove();
  const item = text("li", null, "fresh");
  const name = message.purchase ? `${message.purchase.ProductName} · ${message.purchase.CustomerName}` : message.ProductPurchaseId;
  item.append(text("time", clock()), text("span", kind, `kind ${kind}`), text("span", name, "what"));
  item.title = message.ProductPurchaseId;
  feed.prepend(item);
  while (feed.children.length > 60) feed.lastChild.remove();
  const waited = state.pending.get(message.ProductPurchaseId);
  if (waited && waited === message.type) {
    state.pending.delete(message.ProductPurchaseId);
    toast(`Applied: ${kind} ${name}`, "good");
  }
}

function setLive(mode, label) {
  $("live").dataset.state = mode;
  $("live-text").textContent = label;
}

async function connect() {
  setLive("connecting", state.retry ? "reconnecting…" : "connecting…");
  let url;
  try {
    const reply = await api("GET", "/api/socket");
    if (!reply.ok) throw new Error((reply.body && reply.body.message) || String(reply.status));
    url = reply.body.url;
  } catch (error) {
    return scheduleReconnect(`no token: ${error.message}`);
  }
  const socket = new WebSocket(url);
  state.socket = socket;
  let keepalive = null;
  socket.addEventListener("open", () => {
    const wasRetry = state.retry > 0;
    state.retry = 0;
    setLive("live", "live");
    keepalive = setInterval(() => socket.send(JSON.stringify({ action: "ping" })), KEEPALIVE_MS);
    // Whatever changed while we were away was not pushed to us: read the page again.
    if (wasRetry) loadPage();
  });
  socket.addEventListener("message", (event) => {
    let message;
    try { message = JSON.parse(event.data); } catch (_) { return; }
    if (message && typeof message.type === "string" && message.type.startsWith("purchase.")) {
      applyChange(message);
      refreshQueuesSoon();
    }
  });
  socket.addEventListener("close", () => {
    clearInterval(keepalive);
    if (state.socket === socket) scheduleReconnect("disconnected");
  });
}

function scheduleReconnect(reason) {
  state.retry += 1;
  const delay = Math.min(10000, 500 * 2 ** Math.min(state.retry, 5));
  setLive("offline", `${reason} · retrying in ${Math.round(delay / 1000)} s`);
  setTimeout(connect, delay);
}

// ------------------------------------------------------------------ the form
function formValues() {
  const values = {};
  for (const name of FIELDS) {
    const value = $(`f-${name}`).value.trim();
    if (value !== "" || !OPTIONAL.has(name)) values[name] = value;
  }
  return values;
}

function clearErrors() {
  for (const field of document.querySelectorAll(".field")) {
    field.classList.remove("invalid");
    field.querySelector(".error").textContent = "";
  }
  $("form-error").hidden = true;
}

function showErrors(body) {
  const general = [];
  for (const error of (body && body.errors) || []) {
    const field = document.querySelector(`.field[data-field="${CSS.escape(error.field || "")}"]`);
    if (field) {
      field.classList.add("invalid");
      const line = field.querySelector(".error");
      line.textContent = line.textContent ? `${line.textContent}; ${error.message}` : error.message;
    } else {
      general.push(error.field ? `${error.field}: ${error.message}` : error.message);
    }
  }
  if (general.length || !((body && body.errors) || []).length) {
    $("form-error").textContent = [(body && body.message) || "The API refused the purchase.", ...general].join(" — ");
    $("form-error").hidden = false;
  }
  document.querySelector(".field.invalid input, .field.invalid textarea")?.focus();
}

function resetForm() {
  state.editing = null;
  $("purchase-form").reset();
  $(`f-TimeOfPurchase`).value = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
  $("form-title").textContent = "New purchase";
  $("editing-id").hidden = true;
  $("save").textContent = "Create purchase";
  $("cancel").textContent = "Clear";
  clearErrors();
  for (const tr of $("rows").querySelectorAll("tr.selected")) tr.classList.remove("selected");
}

function startEdit(id) {
  const purchase = state.rows.get(id);
  if (!purchase) return;
  resetForm();
  state.editing = id;
  for (const name of FIELDS) $(`f-${name}`).value = purchase[name] === undefined ? "" : String(purchase[name]);
  $("form-title").textContent = "Edit purchase";
  $("editing-id").textContent = id.slice(0, 8);
  $("editing-id").title = id;
  $("editing-id").hidden = false;
  $("save").textContent = "Save changes";
  $("cancel").textContent = "Cancel";
  $("rows").querySelector(`tr[data-id="${CSS.escape(id)}"]`)?.classList.add("selected");
  $("f-ProductName").focus();
}

async function submitForm(event) {
  event.preventDefault();
  clearErrors();
  const values = formValues();
  const editing = state.editing;
  $("save").disabled = true;
  try {
    const reply = editing
      ? await api("PUT", `/api/purchases/${encodeURIComponent(editing)}`, values)
      : await api("POST", "/api/purchases", values);
    if (reply.status === 202) {
      const id = reply.body.ProductPurchaseId;
      state.pending.set(id, editing ? "purchase.updated" : "purchase.created");
      toast(editing ? "Change accepted; applying…" : "Purchase accepted; applying…");
      resetForm();
      refreshQueuesSoon();
    } else {
      showErrors(reply.body);
    }
  } finally {
    $("save").disabled = false;
  }
}

function askDelete(button, id) {
  if (!button.classList.contains("confirm")) {
    button.classList.add("confirm");
    button.textContent = "Confirm";
    setTimeout(() => { button.classList.remove("confirm"); button.textContent = "Delete"; }, 4000);
    return;
  }
  button.disabled = true;
  api("DELETE", `/api/purchases/${encodeURIComponent(id)}`).then((reply) => {
    if (reply.status === 202) {
      state.pending.set(id, "purchase.deleted");
      toast("Delete accepted; applying…");
    } else {
      button.disabled = false;
      toast(`Delete refused: ${(reply.body && reply.body.message) || reply.status}`, "bad");
    }
  });
}

// ------------------------------------------------------------------ queues and dead letters
let queueTimer = null;
function refreshQueuesSoon() {
  clearTimeout(queueTimer);
  queueTimer = setTimeout(refreshQueues, 300);
}

async function refreshQueues() {
  const reply = await api("GET", "/api/queues");
  if (!reply.ok) return;
  const { queue, deadLetters } = reply.body;
  $("q-visible").textContent = queue.visible;
  $("q-inflight").textContent = queue.inFlight;
  const dead = deadLetters.visible + deadLetters.inFlight;
  $("dlq-count").textContent = dead;
  $("dlq-count").parentElement.classList.toggle("nonzero", dead > 0);
  $("queue-updated").textContent = `as of ${clock()}`;
  // Only the count is polled: reading the messages themselves counts as a receive in SQS, so it waits for a click.
  $("inspect").disabled = dead === 0;
  $("redrive").disabled = dead === 0;
  if (dead === 0) {
    $("dead-letters").replaceChildren(text("li", "Nothing failed: every accepted write was applied.", "none"));
  } else if (dead !== state.lastDead) {
    $("dead-letters").replaceChildren(
      text("li", `${dead} write(s) failed. Inspect shows them (it counts as a receive of each).`, "none"));
  }
  state.lastDead = dead;
}

async function inspectDeadLetters() {
  const reply = await api("POST", "/api/dead-letters/inspect");
  if (!reply.ok) {
    toast(`Could not read the dead letters: ${(reply.body && reply.body.message) || reply.status}`, "bad");
    return;
  }
  const list = $("dead-letters");
  if (!reply.body.length) {
    list.replaceChildren(text("li", "Nothing failed: every accepted write was applied.", "none"));
    return;
  }
  list.replaceChildren(...reply.body.map((message) => {
    const item = document.createElement("li");
    const meta = text("div", null, "meta");
    meta.append(text("span", message.id.slice(0, 13)),
      text("span", `received ${message.receiveCount}× · ${clock(new Date(message.sentAt))}`));
    item.append(meta, text("pre", message.body));
    return item;
  }));
}

async function redrive() {
  $("redrive").disabled = true;
  const reply = await api("POST", "/api/dead-letters/redrive");
  if (reply.ok) toast(`Moved ${reply.body.moved} message(s) back to the queue.`, "good");
  else toast(`Redrive failed: ${(reply.body && reply.body.message) || reply.status}`, "bad");
  state.lastDead = undefined;
  refreshQueues();
}

// ------------------------------------------------------------------ start
async function start() {
  const info = await api("GET", "/api/info");
  if (info.ok) {
    $("stage").textContent = info.body.stage;
    $("engine").textContent = info.body.engine;
    document.title = `Purchases · ${info.body.stage} · ${info.body.engine}`;
  }
  $("purchase-form").addEventListener("submit", submitForm);
  $("cancel").addEventListener("click", resetForm);
  $("new").addEventListener("click", () => { resetForm(); $("f-ProductName").focus(); });
  $("refresh").addEventListener("click", loadPage);
  $("next").addEventListener("click", () => { if (state.next) { state.cursors.push(state.next); loadPage(); } });
  $("prev").addEventListener("click", () => { if (state.cursors.length > 1) { state.cursors.pop(); loadPage(); } });
  $("redrive").addEventListener("click", redrive);
  $("inspect").addEventListener("click", inspectDeadLetters);
  $("journey-close").addEventListener("click", () => { state.journeyFor = null; $("journey").hidden = true; });
  resetForm();
  await loadPage();
  document.body.dataset.ready = "1";
  connect();
  refreshQueues();
  setInterval(refreshQueues, QUEUE_REFRESH_MS);
}

document.addEventListener("DOMContentLoaded", start);
