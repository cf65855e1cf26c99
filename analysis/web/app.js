// The longread page: ask, follow citations into the source, see where the pack's tokens went.
// No libraries; the server inlines this file into the page so one URL (with ?token=) is enough.
// The token goes from the address bar (and so from history) at once; API calls send it as a header.
"use strict";

const TOKEN = takeToken();
const $ = (id) => document.getElementById(id);

function headers(extra) {
  const h = Object.assign({}, extra || {});
  if (TOKEN) h.Authorization = "Bearer " + TOKEN;
  return h;
}

function takeToken() {
  const query = new URLSearchParams(location.search);
  const token = query.get("token");
  if (token !== null) {
    query.delete("token");
    const rest = query.toString();
    history.replaceState(null, "", location.pathname + (rest ? "?" + rest : "") + location.hash);
  }
  return token;
}

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

async function getJSON(url) {
  const response = await fetch(url, { headers: headers() });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

// POST a job and read its server-sent events: "progress" while it runs, then "result" or "error".
async function stream(url, payload, onEvent) {
  const response = await fetch(url, {
    method: "POST",
    headers: headers({ "Content-Type": "application/json", Accept: "text/event-stream" }),
    body: JSON.stringify(payload),
  });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    onEvent("error", { error: body.error || response.statusText });
    return;
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const event = (frame.match(/^event: (.*)$/m) || [])[1] || "message";
      const lines = frame.split("\n").filter((l) => l.startsWith("data: "));
      if (!lines.length) continue;  // a keep-alive comment (": ping")
      onEvent(event, JSON.parse(lines.map((l) => l.slice(6)).join("\n")));
    }
  }
}

// The answer's text with each citation that checks out as a link to its source; the backticks
// around a citation go, other `code` spans become <code> (no further Markdown).
function renderCited(text, citations) {
  const box = el("div", "text");
  let cursor = 0;
  for (const c of citations) {
    let at = text.indexOf(c.raw, cursor), end = at + c.raw.length;
    if (at < 0) continue;
    if (text[at - 1] === "`" && text[end] === "`" && at - 1 >= cursor) { at -= 1; end += 1; }
    appendInline(box, text.slice(cursor, at));
    box.append(citationNode(c));
    cursor = end;
  }
  appendInline(box, text.slice(cursor));
  return box;
}

function appendInline(box, text) {
  text.split(/`([^`\n]+)`/).forEach((part, i) => box.append(i % 2 ? el("code", "", part) : part));
}

function citationNode(c) {
  if (c.status !== "ok") {
    const bad = el("span", "cite-bad", c.raw);
    bad.title = c.status + ": " + c.detail;
    return bad;
  }
  const link = el("a", "cite", c.raw);
  link.href = "#";
  link.dataset.path = c.path;
  if (c.page) link.dataset.page = c.page;
  if (c.place) link.dataset.place = c.place;
  if (c.start) link.dataset.start = c.start;
  if (c.end || c.start) link.dataset.end = c.end || c.start;
  link.addEventListener("click", (event) => {
    event.preventDefault();
    showSource(link.dataset);
  });
  return link;
}

async function showSource(cited) {
  const query = new URLSearchParams({ path: cited.path });
  if (cited.place) query.set("place", cited.place);
  else if (cited.page) query.set("page", cited.page);
  // A reply holds at most 500 lines: start a little before the cited ones.
  else if (cited.start) query.set("start", Math.max(1, Number(cited.start) - 100));
  const title = cited.path + (cited.place ? "#" + cited.place : cited.page ? " page " + cited.page
    : cited.start ? ":" + cited.start + (cited.end !== cited.start ? "-" + cited.end : "") : "");
  $("source-title").textContent = title;
  const lines = $("source-lines");
  lines.textContent = "";
  $("source").hidden = false;
  try {
    const source = await getJSON("/api/source?" + query);
    // A place (report.docx#p=12, README.md#install) is the whole reply: all of it is cited.
    const first = cited.place ? source.start : Number(cited.start || 0);
    const last = cited.place ? source.end : Number(cited.end || cited.start || 0);
    source.lines.forEach((text, i) => {
      const number = source.start + i;
      const row = el("span", "line");
      row.dataset.line = number;
      if (first > 0 && number >= first && number <= last) row.classList.add("hl");
      row.append(el("span", "n", String(number)), text);
      lines.append(row);
    });
    if (source.next) {
      lines.append(el("span", "line", "\u2026 lines " + source.next + "-" + source.total + " not shown"));
    }
    const mark = lines.querySelector(".hl");
    if (mark) mark.scrollIntoView({ block: "center" });
  } catch (error) {
    lines.append(el("span", "error", String(error.message)));
  }
}

function usage(a, model) {
  const source = a.from_cache ? "answer cache" : a.seconds.toFixed(1) + " s";
  return `${model} · ${a.prompt_tokens} prompt tokens (${a.cached_tokens} cached) · ${source}`;
}

// What longread removed from the model's output (echoed prompt lines, template tokens) and
// whether it cut a loop: said under the answer, as every other output format says it.
function cleaningNotes(a) {
  const box = el("div", "notes");
  if (a.cut) box.classList.add("cut");
  for (const note of a.notes || []) box.append(el("div", "note", "longread: " + note));
  return box;
}

function answerCard(title) {
  const card = el("div", "answer");
  card.append(el("h3", "", title));
  const status = el("div", "status", "waiting for the server…");
  card.append(status);
  $("answers").prepend(card);
  return { card, status };
}

function progressLine(p) {
  return p.total ? `${p.stage} ${p.done}/${p.total}` : `${p.stage}…`;
}

function showAnswers(card, result) {
  result.answers.forEach((a, i) => {
    if (i > 0) card.append(el("h3", "", a.question));
    card.append(renderCited(a.answer, a.citations));
    card.append(cleaningNotes(a));
    card.append(el("div", "usage", usage(a, result.model)));
  });
}

function showSummary(card, result) {
  card.append(renderCited(result.summary.answer, result.citations));
  card.append(cleaningNotes(result.summary));
  card.append(el("div", "usage", usage(result.summary, result.model)));
  const table = el("table", "coverage");
  const head = el("tr");
  ["document", "status", "detail"].forEach((t) => head.append(el("th", "", t)));
  table.append(head);
  for (const row of result.coverage) {
    const tr = el("tr");
    [row.path, row.status, row.detail].forEach((t) => tr.append(el("td", "", t)));
    table.append(tr);
  }
  card.append(table);
}

async function run(url, payload, title, show) {
  const { card, status } = answerCard(title);
  const buttons = [$("ask"), $("summarize")];
  buttons.forEach((b) => (b.disabled = true));
  try {
    await stream(url, payload, (event, data) => {
      if (event === "progress") status.textContent = progressLine(data);
      else if (event === "result") { status.remove(); show(card, data); loadMap(); }
      else if (event === "error") { status.textContent = data.error; status.className = "error"; }
    });
  } catch (error) {
    status.textContent = String(error.message);
    status.className = "error";
  } finally {
    buttons.forEach((b) => (b.disabled = false));
  }
}

$("ask-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const question = $("question").value.trim();
  if (question) run("/api/ask", { question }, question, showAnswers);
});
$("summarize").addEventListener("click", () => {
  const focus = $("focus").value.trim();
  run("/api/summarize", focus ? { focus } : {}, "Summary" + (focus ? ": " + focus : ""),
      showSummary);
});
$("source-close").addEventListener("click", () => ($("source").hidden = true));

// Squarified treemap (Bruls, Huizing, van Wijk 2000): rows of rectangles laid along the shorter
// side, a row closed when adding one more would worsen its worst aspect ratio.
function squarify(values, x, y, w, h) {
  const total = values.reduce((s, v) => s + v, 0);
  const scale = (w * h) / total;
  const items = values.map((v, i) => ({ i, area: v * scale })).sort((a, b) => b.area - a.area);
  const rects = new Array(values.length);
  let row = [];
  const worst = (r, side) => {
    const sum = r.reduce((s, it) => s + it.area, 0);
    const max = Math.max(...r.map((it) => it.area)), min = Math.min(...r.map((it) => it.area));
    return Math.max((side * side * max) / (sum * sum), (sum * sum) / (side * side * min));
  };
  const place = () => {
    const sum = row.reduce((s, it) => s + it.area, 0);
    if (w >= h) {
      const width = sum / h;
      let top = y;
      for (const it of row) { const hh = it.area / width; rects[it.i] = [x, top, width, hh]; top += hh; }
      x += width; w -= width;
    } else {
      const height = sum / w;
      let left = x;
      for (const it of row) { const ww = it.area / height; rects[it.i] = [left, y, ww, height]; left += ww; }
      y += height; h -= height;
    }
    row = [];
  };
  for (const it of items) {
    const side = Math.min(w, h);
    if (row.length && worst(row.concat([it]), side) > worst(row, side)) place();
    row.push(it);
  }
  if (row.length) place();
  return rects;
}

function fidelityClass(doc) {
  return doc.part ? "part" : doc.fidelity;
}

async function loadMap() {
  const manifest = await getJSON("/api/pack");
  const packed = manifest.documents.filter((d) => d.fidelity !== "skipped");
  const skipped = manifest.documents.filter((d) => d.fidelity === "skipped");
  $("map-total").textContent = `${manifest.tokens.toLocaleString()} tokens · ${packed.length} documents`;
  const map = $("treemap");
  map.textContent = "";
  if (packed.length) {
    // A path-only document costs a line of the tree: give it a sliver that can still be seen.
    const least = Math.max(manifest.tokens / 400, 1);
    const rects = squarify(packed.map((d) => Math.max(d.tokens, least)), 0, 0,
                           map.clientWidth, map.clientHeight);
    packed.forEach((doc, i) => {
      const [left, top, width, height] = rects[i];
      const box = el("div", "tm-rect " + fidelityClass(doc), width > 40 && height > 14 ? doc.path : "");
      Object.assign(box.style, { left: left + "px", top: top + "px", width: width + "px",
                                 height: height + "px" });
      box.title = `${doc.path}\n${doc.tokens.toLocaleString()} tokens · ${fidelityClass(doc)}`;
      box.dataset.path = doc.path;
      map.append(box);
    });
  }
  $("skipped-title").textContent = `Skipped (${skipped.length})`;
  const list = $("skipped");
  list.textContent = "";
  for (const doc of skipped) list.append(el("li", "", `${doc.path} — ${doc.reason || ""}`));
}

loadMap().catch((error) => ($("map-total").textContent = String(error.message)));
