// infogan-tk explore: builds one control per code from what the code declares (a "choice" or a
// "range"), asks the server for the picture at the current point and Q's reading of it, and keeps
// at most one request of each kind in flight so a fast slider never queues up stale work.
"use strict";

const model = JSON.parse(document.getElementById("model").textContent);
const state = { seed: model.start.seed, values: model.start.values.slice(), lock: false };
const $ = (id) => document.getElementById(id);
// Seeds the page offers: the server takes up to 2**63 - 1, a JavaScript number holds whole numbers exactly only to 2**53 - 1.
const maxSeed = Math.min(model.max_seed, Number.MAX_SAFE_INTEGER);

function fmt(v) { return Number.isInteger(v) ? String(v) : Number(v).toFixed(2); }

// What the message line says and who said it: a request's own failure ("render", "strips") is
// cleared by that request's next success; what the user's action reported (an upload read, an
// upload refused, a bad seed) stays until the next message, so a render it starts cannot wipe it.
let messageFrom = null;

function say(text, ok, from) {
  const m = $("message");
  m.textContent = text || "";
  m.className = ok ? "ok" : "";
  messageFrom = text ? (from || "user") : null;
}

function recovered(from) { if (messageFrom === from) say(""); }

async function post(url, body, raw) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": raw ? "application/octet-stream" : "application/json" },
    body: raw ? body : JSON.stringify(body),
  });
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  if (!response.ok || data === null) {
    throw new Error((data && data.error) || `the server answered ${response.status}`);
  }
  return data;
}

// One request of a kind in flight; a change meanwhile sends one more when it ends.
function coalesced(name, run) {
  let busy = false, again = false;
  const go = async () => {
    if (busy) { again = true; return; }
    busy = true;
    try { await run(); recovered(name); } catch (e) { say(e.message, false, name); }
    busy = false;
    if (again) { again = false; go(); }
  };
  return go;
}

function point() { return { seed: state.seed, values: state.values.slice() }; }

// ------------------------------------------------------------------ controls
function buildControls() {
  const box = $("controls");
  model.codes.forEach((code, i) => {
    const c = code.control;
    const div = document.createElement("div");
    div.className = "code";
    div.dataset.code = code.name;
    div.innerHTML = `<span class="name"></span> <span class="prior"></span> <span class="value"></span>`;
    div.querySelector(".name").textContent = code.name;
    div.querySelector(".prior").textContent = `${code.prior}, ${code.kind}, head ${code.head}`;
    if (c.kind === "choice") {
      const choices = document.createElement("div");
      choices.className = "choices";
      c.labels.forEach((label, k) => {
        const b = document.createElement("button");
        b.type = "button";
        b.dataset.code = code.name;
        b.dataset.value = String(k);
        b.textContent = label;
        const p = document.createElement("span");
        p.className = "p";
        p.style.width = "0%";
        b.appendChild(p);
        b.addEventListener("click", () => setValue(i, k));
        choices.appendChild(b);
      });
      div.appendChild(choices);
    } else {
      const slider = document.createElement("input");
      slider.type = "range";
      slider.min = c.low;
      slider.max = c.high;
      slider.step = (c.high - c.low) / 200;
      slider.value = state.values[i];
      slider.dataset.code = code.name;
      slider.setAttribute("aria-label", code.name);
      slider.addEventListener("input", () => setValue(i, Number(slider.value), true));
      div.appendChild(slider);
      const track = document.createElement("div");
      track.className = "track";
      if (c.prior) {
        const band = document.createElement("span");
        band.className = "band";
        band.style.left = `${((c.prior[0] - c.low) / (c.high - c.low)) * 100}%`;
        band.style.width = `${((c.prior[1] - c.prior[0]) / (c.high - c.low)) * 100}%`;
        band.title = "the prior's usual range";
        track.appendChild(band);
      }
      const q = document.createElement("span");
      q.className = "q";
      q.title = "what Q reads back";
      track.appendChild(q);
      div.appendChild(track);
    }
    const rb = document.createElement("div");
    rb.className = "readback";
    rb.id = `readback-${code.name}`;
    div.appendChild(rb);
    box.appendChild(div);
  });
  syncControls();
}

function syncControls() {
  model.codes.forEach((code, i) => {
    const div = document.querySelector(`.code[data-code="${code.name}"]`);
    const v = state.values[i];
    div.querySelector(".value").textContent = `= ${code.control.kind === "choice" ? code.control.labels[v] : fmt(v)}`;
    if (code.control.kind === "choice") {
      div.querySelectorAll("button").forEach((b) => b.classList.toggle("on", Number(b.dataset.value) === v));
    } else {
      const slider = div.querySelector("input[type=range]");
      if (Number(slider.value) !== v) slider.value = v;
    }
  });
  $("seed").value = String(state.seed);
}

function setValue(i, v, fromSlider) {
  state.values[i] = v;
  if (!fromSlider) syncControls(); else {
    const code = model.codes[i];
    document.querySelector(`.code[data-code="${code.name}"] .value`).textContent = `= ${fmt(v)}`;
  }
  changed();
}

// ------------------------------------------------------------------ Q's reading
function describeRead(code, read) {
  const o = read.outputs || {};
  if (code.control.kind === "choice") {
    const p = o.probabilities ? ` (${(o.probabilities[read.estimate] * 100).toFixed(0)}%)` : "";
    return `Q reads ${code.control.labels[read.estimate] ?? read.estimate}${p}`;
  }
  const sd = o.std ? ` ± ${fmt(o.std[0])}` : "";
  return `Q reads ${fmt(read.estimate)}${sd}`;
}

function showReadback(readback) {
  const table = $("readback");
  table.innerHTML = "<tr><th>code</th><th>set</th><th>Q reads back</th></tr>";
  readback.forEach((read, i) => {
    const code = model.codes[i];
    const set = code.control.kind === "choice" ? code.control.labels[state.values[i]] : fmt(state.values[i]);
    const tr = document.createElement("tr");
    tr.id = `q-${code.name}`;
    [code.name, set, describeRead(code, read)].forEach((t) => {
      const td = document.createElement("td");
      td.textContent = t;
      tr.appendChild(td);
    });
    table.appendChild(tr);
    $(`readback-${code.name}`).textContent = describeRead(code, read);
    const div = document.querySelector(`.code[data-code="${code.name}"]`);
    if (code.control.kind === "choice") {
      const probs = (read.outputs || {}).probabilities;
      div.querySelectorAll("button").forEach((b) => {
        const k = Number(b.dataset.value);
        b.querySelector(".p").style.width = probs ? `${(probs[k] * 100).toFixed(0)}%` : (k === read.estimate ? "100%" : "0%");
      });
    } else {
      const c = code.control;
      const at = Math.max(0, Math.min(1, (read.estimate - c.low) / (c.high - c.low)));
      div.querySelector(".q").style.left = `${at * 100}%`;
    }
  });
}

// ------------------------------------------------------------------ requests
const render = coalesced("render", async () => {
  const data = await post("/api/render", point());
  $("image").src = data.image;
  showReadback(data.readback);
});

let stripTimer = null;
const strips = coalesced("strips", async () => {
  const data = await post("/api/traverse", point());
  const box = $("strips");
  box.innerHTML = "";
  data.strips.forEach((s, i) => {
    const code = model.codes[i];
    const div = document.createElement("div");
    div.className = "strip";
    div.dataset.code = code.name;
    const label = document.createElement("div");
    label.className = "label";
    const ends = code.control.kind === "choice" ? "every category" : `${fmt(s.values[0])} to ${fmt(s.values[s.values.length - 1])}`;
    label.textContent = `${code.name} (${code.prior}): ${ends}`;
    const img = document.createElement("img");
    img.src = s.image;
    img.alt = `traversal of ${code.name}`;
    img.addEventListener("click", (e) => {
      const k = Math.min(s.values.length - 1, Math.floor((e.offsetX / img.clientWidth) * s.values.length));
      setValue(i, s.values[k]);
    });
    div.append(label, img);
    box.appendChild(div);
  });
});

function changed() {
  render();
  clearTimeout(stripTimer);
  stripTimer = setTimeout(strips, 150);
}

// ------------------------------------------------------------------ images from the user or the data set
function showEncoded(data, what) {
  state.values = data.values.slice();
  syncControls();
  changed();
  const box = $("upload-result");
  box.innerHTML = "";
  const fig = (src, caption, id) => {
    const f = document.createElement("figure");
    const img = document.createElement("img");
    img.className = "small";
    img.src = src;
    img.id = id;
    img.alt = caption;
    const c = document.createElement("figcaption");
    c.textContent = caption;
    f.append(img, c);
    return f;
  };
  const codes = document.createElement("div");
  codes.id = "upload-codes";
  data.readback.forEach((read, i) => {
    const line = document.createElement("div");
    line.textContent = `${model.codes[i].name}: ${describeRead(model.codes[i], read)}`;
    codes.appendChild(line);
  });
  box.append(fig(data.input, what, "upload-input"), fig(data.regenerated, "G from Q's codes", "upload-regenerated"), codes);
  say(`Q read the codes of ${what}; the controls start from there.`, true);
}

async function upload() {
  const file = $("upload").files[0];
  if (!file) return;
  if (file.size > model.max_upload_bytes) {
    say(`Upload refused: ${file.name} is more than ${model.max_upload_bytes / 1048576} MiB; send a smaller image`);
    $("upload").value = "";
    return;
  }
  try {
    const bytes = await file.arrayBuffer();
    const data = await post(`/api/encode?seed=${state.seed}`, bytes, true);
    showEncoded(data, `your image (${file.name})`);
  } catch (e) {
    $("upload-result").innerHTML = "";
    say(`Upload refused: ${e.message}`);
  }
  $("upload").value = "";
}

async function fromData() {
  try {
    const data = await post("/api/dataset", { seed: state.seed });
    const label = data.label === null ? "" : `, label ${data.label}`;
    showEncoded(data, `${data.dataset} test image ${data.index}${label}`);
  } catch (e) {
    say(e.message);
  }
}

// ------------------------------------------------------------------ noise
function newSeed() { return Math.floor(Math.random() * 2 ** 31); }

function wire() {
  $("seed").addEventListener("change", () => {
    const v = Number($("seed").value);
    if (!Number.isSafeInteger(v) || v < 0 || v > maxSeed) { say(`the seed must be a whole number from 0 to ${maxSeed}`); return; }
    state.seed = v;
    changed();
  });
  $("lock").addEventListener("change", () => {
    state.lock = $("lock").checked;
    $("reroll").disabled = state.lock;
    $("seed").disabled = state.lock;
  });
  $("reroll").addEventListener("click", () => {
    if (state.lock) return;
    state.seed = newSeed();
    syncControls();
    changed();
  });
  $("random-point").addEventListener("click", () => {
    model.codes.forEach((code, i) => {
      const c = code.control;
      if (c.kind === "choice") state.values[i] = Math.floor(Math.random() * c.labels.length);
      else {
        const [lo, hi] = c.prior || [c.low, c.high];
        state.values[i] = lo + Math.random() * (hi - lo);
      }
    });
    if (!state.lock) state.seed = newSeed();
    syncControls();
    changed();
  });
  $("upload").addEventListener("change", upload);
  $("from-data").addEventListener("click", fromData);
}

buildControls();
wire();
changed();
