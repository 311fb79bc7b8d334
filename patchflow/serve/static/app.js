// The page: builds its form from /v1/info and /v1/modes (the server's one mode table), submits jobs to
// /v1/videos, and polls the job list for the progress bars and the gallery. No framework, no build step.
"use strict";

const $ = (id) => document.getElementById(id);
let info = null;
const modes = {};
const figures = new Map(); // job id -> gallery figure, made once so a playing video is never reloaded
let timer = null;

async function api(path, options) {
  const response = await fetch(path, options);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.detail || `${response.status} ${response.statusText}`);
  return body;
}

function element(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

async function setup() {
  const [serverInfo, modeList] = await Promise.all([api("/v1/info"), api("/v1/modes")]);
  info = serverInfo;
  const limits = info.limits;
  $("model-name").textContent = `${info.model}: up to ${limits.max_width}x${limits.max_height}, ${limits.max_seconds} s`;
  for (const mode of modeList) {
    modes[mode.name] = mode;
    $("mode").add(new Option(mode.name, mode.name));
  }
  $("seconds").value = info.defaults.seconds;
  $("seconds").max = limits.max_seconds;
  $("steps").placeholder = info.defaults.steps;
  $("steps").max = limits.max_steps;
  $("guidance").placeholder = info.defaults.guidance;
  $("fps").placeholder = info.defaults.fps;
  for (const id of ["width", "height"]) {
    $(id).step = info.size_multiple;
    $(id).min = info.size_multiple;
  }
  [$("width").value, $("height").value] = Object.values(info.presets)[0];
  const choices = [...Object.entries(info.presets), ["custom", null]];
  choices.forEach(([name, size], i) => {
    const radio = element("input", { type: "radio", name: "size", value: name, id: `size-${name}`, checked: i === 0 });
    radio.onchange = () => { $("custom-size").hidden = name !== "custom"; };
    $("presets").append(element("label", {}, radio, size ? ` ${name} (${size[0]}x${size[1]})` : ` ${name}`));
  });
  $("mode").onchange = showMode;
  $("strength").oninput = () => { $("strength-value").textContent = $("strength").value; };
  $("generate-form").onsubmit = submit;
  showMode();
  refresh();
}

// Upload fields and the strength slider appear with the modes that take them.
function showMode() {
  const mode = modes[$("mode").value];
  $("uploads").replaceChildren(...mode.uploads.map((upload) => {
    const accept = upload.kind === "image" ? "image/png,image/jpeg,image/webp" : "video/*,image/png,image/jpeg,image/webp";
    const input = element("input", { type: "file", id: `upload-${upload.field}`, accept });
    return element("label", { className: "upload" }, `${upload.field} (${upload.kind}) `, input);
  }));
  $("strength-row").hidden = !mode.strength;
  $("seconds").disabled = mode.counts === "input" || mode.frames !== null;
}

function chosenSize() {
  const choice = document.querySelector("input[name=size]:checked").value;
  return choice === "custom" ? [$("width").value, $("height").value] : info.presets[choice];
}

async function submit(event) {
  event.preventDefault();
  const mode = modes[$("mode").value];
  const data = new FormData();
  data.set("prompt", $("prompt").value);
  data.set("mode", mode.name);
  data.set("expand_prompt", $("expand_prompt").checked);
  const [width, height] = chosenSize();
  data.set("width", width);
  data.set("height", height);
  if (!$("seconds").disabled) data.set("seconds", $("seconds").value);
  for (const id of ["seed", "steps", "guidance", "fps", "negative_prompt"]) {
    if ($(id).value !== "") data.set(id, $(id).value);
  }
  if (mode.strength) data.set("strength", $("strength").value);
  for (const upload of mode.uploads) {
    const file = $(`upload-${upload.field}`).files[0];
    if (file) data.set(upload.field, file);
  }
  $("error").hidden = true;
  $("generate").disabled = true;
  try {
    await api("/v1/videos", { method: "POST", body: data });
    refresh();
  } catch (error) {
    $("error").textContent = error.message;
    $("error").hidden = false;
  } finally {
    $("generate").disabled = false;
  }
}

async function refresh() {
  clearTimeout(timer);
  let list;
  try {
    list = await api("/v1/videos?limit=100");
  } catch (error) {
    timer = setTimeout(refresh, 3000);
    return;
  }
  showJobs(list.jobs.filter((job) => job.status !== "succeeded").slice(0, 20));
  showGallery(list.jobs.filter((job) => job.status === "succeeded"));
  const busy = list.jobs.some((job) => job.status === "queued" || job.status === "running");
  timer = setTimeout(refresh, busy ? 700 : 5000);
}

function showJobs(jobs) {
  $("jobs").replaceChildren(...jobs.map((job) => {
    const item = element("li", { id: `job-${job.id}` }, element("strong", {}, job.status), ` ${job.mode}: `,
                         element("span", { textContent: job.prompt || "(no prompt)" }));
    if (job.status === "queued" || job.status === "running") {
      const { step, steps } = job.progress;
      const bar = element("progress", { max: steps || 1, value: step });
      const label = job.status === "running" ? ` step ${step} of ${steps}` : " waiting";
      const cancel = element("button", { type: "button", textContent: "cancel" });
      cancel.onclick = () => api(job.url, { method: "DELETE" }).then(refresh, refresh);
      item.append(bar, label, " ", cancel);
    } else if (job.error) {
      item.append(element("div", { className: "failed", textContent: job.error }));
    }
    return item;
  }));
}

function settingsText(job) {
  const s = job.settings;
  const parts = [job.mode, `${s.width}x${s.height}`, `${job.output.frames} frames`, `${s.fps} fps`,
                 `seed ${s.seed}`, `${s.steps} steps`, `guidance ${s.guidance}`];
  if (s.strength !== null) parts.push(`strength ${s.strength}`);
  return parts.join(" · ");
}

function makeFigure(job) {
  const media = job.output.kind === "image"
    ? element("img", { src: job.content_url, alt: job.prompt })
    : element("video", { src: job.content_url, controls: true, loop: true, muted: true, autoplay: true,
                         playsInline: true, preload: "auto" });
  const links = ["mp4", "gif", "png"].filter((f) => job.output.kind === "video" || f !== "mp4")
    .map((f) => element("a", { href: `${job.content_url}?format=${f}`, textContent: f, download: `${job.id}.${f}` }));
  const caption = element("figcaption", {}, element("div", { className: "prompt", textContent: job.prompt || "(no prompt)" }),
                          element("div", { className: "settings", textContent: settingsText(job) }), ...links);
  return element("figure", { id: `video-${job.id}` }, media, caption);
}

// Newest first; a figure is made once and only moved, so videos keep playing across refreshes.
function showGallery(jobs) {
  const gallery = $("gallery");
  jobs.forEach((job, i) => {
    if (!figures.has(job.id)) figures.set(job.id, makeFigure(job));
    const figure = figures.get(job.id);
    if (gallery.children[i] !== figure) gallery.insertBefore(figure, gallery.children[i] || null);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setup().catch((error) => {
    $("error").textContent = `could not load the server's settings: ${error.message}`;
    $("error").hidden = false;
  });
});
