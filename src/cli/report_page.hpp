// The HTML report's page (report.cpp puts the recording's data between its two halves): one
// file with its style and script inside, no network, works from file://. The timeline is a
// canvas that paints only the rows in view, so 100,000 processes cost 100,000 array entries,
// not 100,000 DOM nodes. Text from the recording reaches the page through textContent and
// fillText only, never as markup.
#pragma once

namespace proctrail::cli {

inline constexpr char kReportPageHead[] = R"page(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>@TITLE@ — proctrail report</title>
<style>
  :root { --ok:#2e9d5b; --fail:#d64545; --killed:#8e44ad; --running:#3f7fd8; --ink:#1d2430;
          --muted:#6b7380; --line:#e3e6ea; --bg:#fff; font: 13px/1.35 system-ui, sans-serif; }
  body { margin:0; color:var(--ink); background:var(--bg); display:flex; flex-direction:column;
         height:100vh; overflow:hidden; }
  header { padding:8px 12px; border-bottom:1px solid var(--line); }
  h1 { font-size:15px; margin:0 0 4px; }
  #summary span { margin-right:14px; white-space:nowrap; }
  #summary b { font-variant-numeric: tabular-nums; }
  #controls { display:flex; gap:8px; align-items:center; margin-top:6px; flex-wrap:wrap; }
  #controls input { width:260px; padding:3px 6px; }
  #controls .hint { color:var(--muted); }
  .key { display:inline-block; width:10px; height:10px; border-radius:2px; margin:0 3px 0 8px;
         vertical-align:-1px; }
  main { flex:1; display:flex; min-height:0; }
  #scroller { flex:1; overflow:auto; position:relative; }
  #spacer { position:absolute; top:0; left:0; width:1px; }
  #timeline { position:sticky; top:0; left:0; display:block; cursor:grab; }
  #detail { width:340px; border-left:1px solid var(--line); padding:8px 12px; overflow:auto; }
  #detail h2 { font-size:13px; margin:4px 0 8px; }
  #detail dl { margin:0; display:grid; grid-template-columns:max-content 1fr; gap:3px 10px; }
  #detail dt { color:var(--muted); }
  #detail dd { margin:0; word-break:break-all; font-family: ui-monospace, monospace; }
  #detail ol { margin:0; padding-left:18px; font-family: ui-monospace, monospace; }
  #detail .chain li { cursor:pointer; }
  #critical { color:var(--muted); margin-top:4px; overflow:hidden; text-overflow:ellipsis;
              white-space:nowrap; }
  #selfcheck { color:var(--muted); margin-left:auto; }
</style>
</head>
<body>
<header>
  <h1 id="title"></h1>
  <div id="summary"></div>
  <div id="critical"></div>
  <div id="controls">
    <input id="search" type="search" placeholder="search commands (Enter: next match)" autocomplete="off">
    <span id="matches" class="hint"></span>
    <button id="fit" type="button">Fit</button>
    <span class="hint">wheel: scroll · Ctrl+wheel or W/S: zoom · drag or A/D: pan · click: details</span>
    <span><span class="key" style="background:var(--ok)"></span>success<span class="key" style="background:var(--fail)"></span>failed<span class="key" style="background:var(--killed)"></span>killed by a signal<span class="key" style="background:var(--running)"></span>still running<span class="key" style="background:#000"></span>loss</span>
    <output id="selfcheck"></output>
  </div>
</header>
<main>
  <div id="scroller"><div id="spacer"></div><canvas id="timeline"></canvas></div>
  <aside id="detail"><h2>Details</h2><p class="hint">Click a bar or a command.</p></aside>
</main>
)page";

inline constexpr char kReportPageTail[] = R"page(<script>
"use strict";
const data = JSON.parse(document.getElementById("data").textContent);
const procs = data.procs;            // [parent, depth, start, end, outcome, argv, details]
const N = procs.length;
const span = Math.max(1, data.t1 - data.t0);
const colours = { success: "#2e9d5b", failure: "#d64545", killed: "#8e44ad", running: "#3f7fd8" };
const ROW = 18, AXIS = 24, LABELS = 320;
const $ = (id) => document.getElementById(id);
const words = (p) => procs[p][5].join(" ");

function seconds(ns) {
  if (ns === 0) return "0";
  const s = ns / 1e9;
  if (s >= 100) return s.toFixed(0) + " s";
  if (s >= 1) return s.toFixed(2) + " s";
  if (s >= 1e-3) return (s * 1e3).toFixed(1) + " ms";
  return (s * 1e6).toFixed(0) + " µs";
}

// The header: what the run was.
$("title").textContent = data.title;
document.title = data.title + " — proctrail report";
const counts = { success: 0, failure: 0, killed: 0, running: 0 };
for (const p of procs) counts[p[4]]++;
const losses = data.marks.filter((m) => m[1] === "loss");
function bold(text) {
  const b = document.createElement("b");
  b.textContent = String(text);
  return b;
}
for (const [value, name] of [[N, "processes"], [counts.failure, "failed"],
    [counts.killed, "killed by a signal"], [counts.running, "still running"], [losses.length, "losses"]]) {
  const s = document.createElement("span");
  s.append(bold(value), " " + name);
  $("summary").append(s);
}
{
  const s = document.createElement("span");
  const when = new Date(data.t0 / 1e6).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  s.append(bold(seconds(data.t1 - data.t0)), " from ", bold(when), " on ", bold(data.host || "?"),
           ", ", bold(data.backend || "?"), " backend");
  $("summary").append(s);
}
const critical = data.critical;
const onCritical = new Set(critical);
if (critical.length) {
  const first = procs[critical[0]];
  $("critical").textContent = "Critical path: " + seconds(first[3] - first[2]) + ", " +
      critical.length + " steps (each the child its parent waited for longest): " +
      critical.map((p) => (procs[p][5][0] || "pid " + procs[p][6].pid).split("/").pop()).join(" → ");
}

// The view: ns per pixel and the ns at the bars' left edge.
const canvas = $("timeline"), scroller = $("scroller"), ctx = canvas.getContext("2d");
let width = 0, height = 0, view0 = 0, nsPerPx = 1, selected = -1, matches = [], matchAt = -1;
const query = { text: "" };
$("spacer").style.height = (AXIS + N * ROW + 20) + "px";

function resize() {
  const dpr = window.devicePixelRatio || 1;
  width = scroller.clientWidth;
  height = scroller.clientHeight;
  canvas.width = width * dpr;
  canvas.height = height * dpr;
  canvas.style.width = width + "px";
  canvas.style.height = height + "px";
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
}
function fit() {
  nsPerPx = span / Math.max(50, width - LABELS - 12);
  view0 = 0;
}
const xOf = (ns) => LABELS + (ns - view0) / nsPerPx;

let painted = 0;
function draw() {
  ctx.clearRect(0, 0, width, height);
  ctx.font = "12px system-ui, sans-serif";
  ctx.textBaseline = "middle";
  const top = scroller.scrollTop;
  const firstRow = Math.max(0, Math.floor(top / ROW) - 1);
  const lastRow = Math.min(N - 1, Math.ceil((top + height - AXIS) / ROW));
  painted = 0;
  for (let r = firstRow; r <= lastRow; r++) {
    const p = procs[r], y = AXIS + r * ROW - top;
    if (y + ROW < AXIS || y > height) continue;
    painted++;
    if (r === selected) { ctx.fillStyle = "#fff4c2"; ctx.fillRect(0, y, width, ROW); }
    else if (query.text && matches.length && matchSet.has(r)) { ctx.fillStyle = "#eef4ff"; ctx.fillRect(0, y, width, ROW); }
    const x0 = Math.max(LABELS, xOf(p[2])), x1 = Math.min(width, xOf(p[3]));
    if (x1 >= LABELS && x0 <= width) {
      ctx.fillStyle = colours[p[4]];
      ctx.fillRect(x0, y + 3, Math.max(1, x1 - x0), ROW - 6);
      if (onCritical.has(r)) { ctx.strokeStyle = "#000"; ctx.lineWidth = 1.5; ctx.strokeRect(x0, y + 3, Math.max(1, x1 - x0), ROW - 6); }
    }
    ctx.save();
    ctx.beginPath(); ctx.rect(0, y, LABELS - 6, ROW); ctx.clip();
    ctx.fillStyle = p[4] === "failure" || p[4] === "killed" ? colours[p[4]] : "#1d2430";
    ctx.fillText(words(r) || "(pid " + p[6].pid + ")", 4 + Math.min(p[1], 30) * 10, y + ROW / 2);
    ctx.restore();
  }
  // The axis, and the losses and failed execs on it.
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, width, AXIS);
  ctx.strokeStyle = "#e3e6ea"; ctx.beginPath(); ctx.moveTo(0, AXIS - 0.5); ctx.lineTo(width, AXIS - 0.5); ctx.stroke();
  const step = niceStep(nsPerPx * 100);
  ctx.fillStyle = "#6b7380";
  for (let t = Math.ceil(view0 / step) * step; xOf(t) < width; t += step) {
    const x = xOf(t);
    ctx.fillRect(x, AXIS - 6, 1, 6);
    ctx.fillText(seconds(t), x + 3, AXIS / 2);
  }
  for (const [at, kind] of data.marks) {
    const x = xOf(at);
    if (x < LABELS || x > width) continue;
    if (kind === "loss") { ctx.fillStyle = "rgba(0,0,0,0.55)"; ctx.fillRect(x - 1, 0, 2, height); }
    else { ctx.fillStyle = "#e08a00"; ctx.beginPath(); ctx.moveTo(x, AXIS - 1); ctx.lineTo(x - 4, AXIS - 8); ctx.lineTo(x + 4, AXIS - 8); ctx.fill(); }
  }
}
function niceStep(ns) {
  const p = Math.pow(10, Math.floor(Math.log10(Math.max(ns, 1))));
  for (const m of [1, 2, 5, 10]) if (p * m >= ns) return p * m;
  return p * 10;
}

// Details of one process, and its parent chain.
function show(r) {
  selected = r;
  const p = procs[r], d = p[6], pane = $("detail");
  pane.replaceChildren();
  const h = document.createElement("h2");
  h.textContent = words(r) || "(pid " + d.pid + ")";
  const dl = document.createElement("dl");
  const status = p[4] === "running" ? "still running at the end of the recording"
      : d.signal ? "killed by " + d.signal + (d.core_dumped ? " (core dumped)" : "")
      : "exit " + (d.exit_code ?? "?");
  const rows = [["pid", d.pid], ["outcome", p[4]], ["status", status],
      ["duration", d.before ? "more than " + seconds(p[3] - p[2]) + " (running when the recording began)" : seconds(p[3] - p[2])],
      ["started", d.before ? (d.began ? new Date(d.began).toISOString() : "before the recording") : new Date((data.t0 + p[2]) / 1e6).toISOString()],
      ["exe", d.exe], ["cwd", d.cwd], ["user", d.user !== undefined ? d.user + " (" + d.uid + ")" : d.uid],
      ["container", d.container], ["images", d.images], ["exec_id", d.exec_id]];
  for (const [k, v] of rows) {
    if (v === undefined || v === "") continue;
    const dt = document.createElement("dt"), dd = document.createElement("dd");
    dt.textContent = k; dd.textContent = String(v);
    dl.append(dt, dd);
  }
  const argvTitle = document.createElement("h2"); argvTitle.textContent = "argv";
  const argv = document.createElement("ol"); argv.start = 0;
  for (const a of p[5]) { const li = document.createElement("li"); li.textContent = a; argv.append(li); }
  const chainTitle = document.createElement("h2"); chainTitle.textContent = "parent chain";
  const chain = document.createElement("ol"); chain.className = "chain";
  for (let at = p[0]; at >= 0; at = procs[at][0]) {
    const li = document.createElement("li");
    li.textContent = procs[at][6].pid + " " + (words(at) || "?");
    const target = at;
    li.addEventListener("click", () => { show(target); reveal(target); });
    chain.append(li);
  }
  pane.append(h, dl, argvTitle, argv, chainTitle, chain);
  draw();
}
function reveal(r) {
  const y = AXIS + r * ROW;
  if (y < scroller.scrollTop + AXIS || y > scroller.scrollTop + height - ROW) scroller.scrollTop = Math.max(0, y - height / 3);
  const p = procs[r];
  if (xOf(p[2]) < LABELS || xOf(p[2]) > width) view0 = Math.max(0, p[2] - nsPerPx * 40);
  draw();
}

// Search: every command that holds the text; Enter goes to the next.
let matchSet = new Set();
$("search").addEventListener("input", (e) => {
  query.text = e.target.value.toLowerCase();
  matches = [];
  if (query.text) for (let r = 0; r < N; r++) if (words(r).toLowerCase().includes(query.text)) matches.push(r);
  matchSet = new Set(matches);
  matchAt = -1;
  $("matches").textContent = query.text ? matches.length + " matching" : "";
  draw();
});
$("search").addEventListener("keydown", (e) => {
  if (e.key !== "Enter" || !matches.length) return;
  matchAt = (matchAt + 1) % matches.length;
  show(matches[matchAt]);
  reveal(matches[matchAt]);
});

// Zoom about a point, pan by dragging or keys.
function zoom(factor, atX) {
  const at = view0 + (atX - LABELS) * nsPerPx;
  nsPerPx = Math.min(span, Math.max(10, nsPerPx * factor));
  view0 = at - (atX - LABELS) * nsPerPx;
  draw();
}
canvas.addEventListener("wheel", (e) => {
  if (!e.ctrlKey && !e.metaKey && !e.altKey) return;
  e.preventDefault();
  zoom(e.deltaY > 0 ? 1.25 : 0.8, e.offsetX);
}, { passive: false });
let drag = null;
canvas.addEventListener("mousedown", (e) => { drag = { x: e.clientX, view0, moved: false }; canvas.style.cursor = "grabbing"; });
window.addEventListener("mousemove", (e) => {
  if (!drag) return;
  if (Math.abs(e.clientX - drag.x) > 2) drag.moved = true;
  view0 = drag.view0 - (e.clientX - drag.x) * nsPerPx;
  draw();
});
window.addEventListener("mouseup", (e) => {
  canvas.style.cursor = "grab";
  if (drag && !drag.moved && e.target === canvas) {
    const r = Math.floor((e.offsetY - AXIS + scroller.scrollTop) / ROW);
    if (e.offsetY > AXIS && r >= 0 && r < N) show(r);
  }
  drag = null;
});
window.addEventListener("keydown", (e) => {
  if (e.target === $("search")) return;
  const k = e.key.toLowerCase();
  if (k === "w" || k === "+" || k === "=") zoom(0.8, LABELS + (width - LABELS) / 2);
  else if (k === "s" || k === "-") zoom(1.25, LABELS + (width - LABELS) / 2);
  else if (k === "a" || e.key === "ArrowLeft") { view0 -= nsPerPx * 80; draw(); }
  else if (k === "d" || e.key === "ArrowRight") { view0 += nsPerPx * 80; draw(); }
});
$("fit").addEventListener("click", () => { fit(); draw(); });
scroller.addEventListener("scroll", draw);
window.addEventListener("resize", () => { resize(); draw(); });

resize();
fit();
draw();

// The page's own check: every process of the recording has its row and a bar on the axis.
let laidOut = 0;
for (let r = 0; r < N; r++) {
  const p = procs[r];
  if (p[3] >= p[2] && xOf(p[2]) >= LABELS - 1 && xOf(p[3]) <= width + 1) laidOut++;
}
// And what the canvas holds: the pixels of each outcome's colour in the bars' area, so that a
// bar that was laid out but never painted shows.
const pixels = { success: 0, failure: 0, killed: 0, running: 0 };
{
  const dpr = window.devicePixelRatio || 1;
  const img = ctx.getImageData(LABELS * dpr, AXIS * dpr, Math.max(1, (width - LABELS) * dpr), Math.max(1, (height - AXIS) * dpr)).data;
  const rgb = Object.entries(colours).map(([k, c]) => [k, parseInt(c.slice(1, 3), 16), parseInt(c.slice(3, 5), 16), parseInt(c.slice(5, 7), 16)]);
  for (let i = 0; i < img.length; i += 4) {
    for (const [k, r, g, b] of rgb) if (img[i] === r && img[i + 1] === g && img[i + 2] === b) { pixels[k]++; break; }
  }
}
const check = $("selfcheck");
check.dataset.processes = String(N);
check.dataset.drawn = String(laidOut);
check.dataset.painted = String(painted);
for (const k in pixels) check.dataset[k + "Pixels"] = String(pixels[k]);
check.textContent = laidOut === N ? "all " + N + " processes drawn" : "only " + laidOut + " of " + N + " processes drawn";
</script>
</body>
</html>
)page";

}  // namespace proctrail::cli
