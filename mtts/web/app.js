// The mtts page: sends the text to /api/tts, plays the wav it gets back and offers it for
// download. Everything it loads comes from this server (see the Content-Security-Policy).
"use strict";

const $ = (id) => document.getElementById(id);
let audioUrl = null;

function status(text, kind) {
  const el = $("status");
  el.textContent = text;
  el.className = kind || "";
}

async function loadVoices() {
  const res = await fetch("/api/voices");
  const info = await res.json();
  for (const v of info.voices) {
    $("speaker").add(new Option(v.name === v.id ? v.id : `${v.name} (${v.id})`, v.id));
  }
  for (const name of ["auto", ...info.vocoders]) {
    $("vocoder").add(new Option(name === "auto" ? `auto (${info.default_vocoder})` : name, name));
  }
  $("max").textContent = info.max_chars;
  $("text").maxLength = info.max_chars;
  $("rate").min = Math.max(info.rate.min, 0.25);
  $("rate").max = Math.min(info.rate.max, 4);
}

// The length of a 16-bit mono wav, read from its header: the page reports what it was sent.
function wavSeconds(buf) {
  const v = new DataView(buf);
  let pos = 12, rate = 0, channels = 1;
  while (pos + 8 <= v.byteLength) {
    const id = String.fromCharCode(v.getUint8(pos), v.getUint8(pos + 1), v.getUint8(pos + 2), v.getUint8(pos + 3));
    const size = v.getUint32(pos + 4, true);
    if (id === "fmt ") { channels = v.getUint16(pos + 10, true); rate = v.getUint32(pos + 12, true); }
    if (id === "data") return { samples: size / (2 * channels), seconds: size / (2 * channels * rate) };
    pos += 8 + size + (size % 2);
  }
  return null;
}

async function speak(event) {
  event.preventDefault();
  const text = $("text").value;
  if (!text.trim()) { status("Type something to say first.", "error"); return; }
  $("play").disabled = true;
  status("Synthesising…", "busy");
  const body = { text, speaker: $("speaker").value, rate: Number($("rate").value), vocoder: $("vocoder").value };
  try {
    const t0 = performance.now();
    const res = await fetch("/api/tts", { method: "POST", headers: { "Content-Type": "application/json" },
                                          body: JSON.stringify(body) });
    if (!res.ok) {
      let message = `HTTP ${res.status}`;
      try { message = (await res.json()).error || message; } catch (_) { /* not JSON */ }
      status(`Error: ${message}`, "error");
      return;
    }
    const buf = await res.arrayBuffer();
    const info = wavSeconds(buf);
    if (audioUrl) URL.revokeObjectURL(audioUrl);
    audioUrl = URL.createObjectURL(new Blob([buf], { type: "audio/wav" }));
    const audio = $("audio");
    audio.src = audioUrl;
    const link = $("download");
    link.href = audioUrl;
    link.classList.remove("disabled");
    link.removeAttribute("aria-disabled");
    const el = $("status");
    el.dataset.samples = info ? info.samples : "";
    el.dataset.seconds = info ? info.seconds : "";
    status(`${info ? info.seconds.toFixed(2) : "?"} s of audio in ${((performance.now() - t0) / 1000).toFixed(2)} s`,
           "done");
    try { await audio.play(); } catch (_) { /* autoplay refused: the controls still play it */ }
  } catch (e) {
    status(`Error: ${e.message}`, "error");
  } finally {
    $("play").disabled = false;
  }
}

$("form").addEventListener("submit", speak);
$("text").addEventListener("input", () => { $("count").textContent = $("text").value.length; });
$("rate").addEventListener("input", () => { $("rate-value").textContent = `${Number($("rate").value).toFixed(2)}×`; });
loadVoices().catch((e) => status(`Cannot reach the server: ${e.message}`, "error"));
