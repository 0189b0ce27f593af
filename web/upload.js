// The index page's upload panel: files and folders by drag and drop or by
// the pickers, each uploaded by web/transfer.js (two at a time) to the
// page's directory plus the file's relative path, with a progress bar per
// file and one for all. The token, when the server wants one, is asked
// for here and kept in sessionStorage (this tab only). With a token the
// listing is fetched as JSON (the page itself came as a 401).
import { Upload } from "./transfer.js";

const TOKEN_KEY = "wsresume-token";
const PARALLEL = 2;

const panel = document.getElementById("wsr-upload");
const base = panel.dataset.base; // the directory's URL path, ending in "/"
const $ = (id) => document.getElementById(id);

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function authHeaders() {
  const t = token();
  return t ? { Authorization: `Bearer ${t}` } : {};
}

/** The directory's JSON listing asked with this tab's token; null when
 * the server cannot be reached. */
async function fetchListing() {
  try {
    return await fetch(base, { headers: { Accept: "application/json", ...authHeaders() }, cache: "no-store" });
  } catch {
    return null;
  }
}

/** Whether `answer` (a listing's) refuses this tab's token (or its lack);
 * unreachable is not a refusal: uploads keep retrying. */
function refused(answer) {
  return answer !== null && answer.status === 401;
}

/** False when the server refuses this tab's token (or its lack) over HTTP. */
async function authOk() {
  return !refused(await fetchListing());
}

function formatSize(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) [n, i] = [n / 1024, i + 1];
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

/** The directory's entries from the JSON listing (`answer`, or fetched
 * now), into the table. */
async function refreshListing(answer) {
  const tbody = document.querySelector("#wsr-listing tbody");
  if (!tbody) return;
  const r = answer ?? (await fetchListing());
  const json = r !== null && r.ok && (r.headers.get("Content-Type") || "").startsWith("application/json");
  if (!json) return;
  const listing = await r.json();
  const rows = [];
  if (base !== "/") rows.push(row(new URL("..", location.origin + base).pathname, "../", "", ""));
  for (const e of listing.entries) {
    const slash = e.kind === "dir" ? "/" : "";
    const date = e.modified ? new Date(e.modified * 1000).toISOString().slice(0, 16).replace("T", " ") : "";
    rows.push(row(base + encodeURIComponent(e.path) + slash, e.path + slash, e.size ?? "", date));
  }
  tbody.replaceChildren(...rows);
}

function row(href, name, size, date) {
  const tr = document.createElement("tr");
  const a = document.createElement("a");
  a.href = href;
  a.textContent = name;
  for (const cell of [a, String(size), date]) {
    const td = document.createElement("td");
    td.append(cell);
    tr.append(td);
  }
  return tr;
}

/** Overall progress: every queued file's sent bytes over their sizes. */
const jobs = [];
function showOverall() {
  const total = jobs.reduce((s, j) => s + j.size, 0);
  const sent = jobs.reduce((s, j) => s + j.sent, 0);
  const bar = $("wsr-overall");
  bar.max = Math.max(total, 1);
  bar.value = sent;
  const left = jobs.filter((j) => !j.finished).length;
  $("wsr-overall-text").textContent =
    `${formatSize(sent)} of ${formatSize(total)}` + (left ? ` — ${left} file(s) to go` : " — all done");
}

/** A row in the upload list for one file, and its upload. */
function addJob(file, relPath) {
  const li = document.createElement("li");
  const name = document.createElement("span");
  name.className = "wsr-name";
  name.textContent = relPath;
  const bar = document.createElement("progress");
  bar.max = Math.max(file.size, 1);
  bar.value = 0;
  const status = document.createElement("span");
  status.className = "wsr-status";
  li.append(name, bar, status);
  $("wsr-files").append(li);
  const target = base + relPath.split("/").map(encodeURIComponent).join("/");
  const job = { size: file.size, sent: 0, finished: false, li };
  job.upload = new Upload(file, relPath, target, {
    token,
    authOk,
    onProgress: ({ sent, verified, size, status: text }) => {
      job.sent = Math.max(0, Math.min(sent, size));
      bar.value = job.sent;
      status.textContent = `${text}: ${formatSize(verified)} of ${formatSize(size)} verified`;
      li.dataset.state = text === "done" ? "done" : "active";
      showOverall();
    },
  });
  jobs.push(job);
  showOverall();
  return job;
}

const queue = [];
let running = 0;

function pump() {
  while (running < PARALLEL && queue.length > 0) {
    const job = queue.shift();
    running += 1;
    job.upload
      .run()
      .then(() => {
        const from = job.upload.resumedFrom;
        job.li.querySelector(".wsr-status").textContent =
          `done: ${formatSize(job.size)}` + (from ? ` (resumed from ${formatSize(from)})` : "");
        job.li.dataset.state = "done";
      })
      .catch((e) => {
        job.li.querySelector(".wsr-status").textContent = `failed: ${e.message}`;
        job.li.dataset.state = "failed";
        if (e.auth) askToken("The server refused the token: enter it again.");
      })
      .finally(() => {
        job.finished = true;
        running -= 1;
        showOverall();
        pump();
        if (running === 0) refreshListing().catch(() => {});
      });
  }
}

function enqueue(items) {
  for (const { file, relPath } of items) queue.push(addJob(file, relPath));
  pump();
}

/** The files under a dropped entry, with their paths relative to the drop. */
async function walkEntry(entry, prefix, out) {
  if (entry.isFile) {
    const file = await new Promise((res, rej) => entry.file(res, rej));
    out.push({ file, relPath: prefix + entry.name });
  } else if (entry.isDirectory) {
    const reader = entry.createReader();
    for (;;) {
      const batch = await new Promise((res, rej) => reader.readEntries(res, rej));
      if (batch.length === 0) break;
      for (const child of batch) await walkEntry(child, `${prefix}${entry.name}/`, out);
    }
  }
}

async function dropped(dataTransfer) {
  const entries = [...dataTransfer.items].map((i) => i.webkitGetAsEntry && i.webkitGetAsEntry()).filter(Boolean);
  const out = [];
  if (entries.length === 0) {
    for (const file of dataTransfer.files) out.push({ file, relPath: file.name });
  }
  for (const entry of entries) await walkEntry(entry, "", out);
  enqueue(out);
}

function picked(input) {
  const items = [...input.files].map((file) => ({ file, relPath: file.webkitRelativePath || file.name }));
  input.value = "";
  enqueue(items);
}

/** Whether the server takes uploads (the drop zone came visible). */
const uploadsOn = !$("wsr-drop").hidden;

/** Show the drop zone and progress, or hide them (until a token is in). */
function showUploads(on) {
  $("wsr-drop").hidden = !(on && uploadsOn);
  $("wsr-progress").hidden = !(on && uploadsOn);
}

function askToken(message) {
  if (jobs.length === 0) showUploads(false);
  $("wsr-token-form").hidden = false;
  $("wsr-token-message").textContent = message;
}

async function submitToken(ev) {
  ev.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("wsr-token").value.trim());
  const answer = await fetchListing();
  if (!refused(answer)) {
    $("wsr-token-form").hidden = true;
    $("wsr-token").value = "";
    showUploads(true);
    await refreshListing(answer).catch(() => {});
  } else {
    sessionStorage.removeItem(TOKEN_KEY);
    askToken("That token is not valid here.");
  }
}

function setUp() {
  $("wsr-pick-files").addEventListener("change", (ev) => picked(ev.target));
  $("wsr-pick-folder").addEventListener("change", (ev) => picked(ev.target));
  const zone = $("wsr-drop");
  zone.addEventListener("dragover", (ev) => {
    ev.preventDefault();
    zone.classList.add("wsr-over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("wsr-over"));
  zone.addEventListener("drop", (ev) => {
    ev.preventDefault();
    zone.classList.remove("wsr-over");
    dropped(ev.dataTransfer).catch((e) => askToken(`could not read the dropped files: ${e.message}`));
  });
  $("wsr-token-form").addEventListener("submit", (ev) => submitToken(ev));
  if (panel.dataset.auth === "required") {
    if (token()) {
      showUploads(false);
      fetchListing().then((answer) => {
        if (refused(answer)) return askToken("Enter the server's token.");
        showUploads(true);
        refreshListing(answer).catch(() => {});
      });
    } else {
      askToken("This server wants a token. It is kept for this tab only.");
    }
  }
  panel.hidden = false;
}

setUp();
