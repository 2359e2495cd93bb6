// The operator's live sale page (admin/tickets/ticket/live.html): draws the
// numbers and the chart from the page's embedded data at once, then from the
// JSON feed every few seconds. Plain JavaScript, no build step, no library.
(function () {
  "use strict";

  const root = document.getElementById("live-sale");
  const chart = document.getElementById("live-chart");
  if (!root || !chart) return;

  const SVG = "http://www.w3.org/2000/svg";
  const feedUrl = root.dataset.feedUrl;
  const refreshMs = 1000 * Number(root.dataset.refreshSeconds || 3);
  const problem = root.querySelector("[data-live-problem]");
  // The plot inside the SVG's viewBox (640 x 200), leaving room for the labels.
  const box = { left: 44, right: 632, top: 10, bottom: 176 };

  function lookup(data, path) {
    return path.split(".").reduce((value, key) => (value == null ? value : value[key]), data);
  }

  function formatted(value, format) {
    if (format === "rate") return Number(value).toFixed(1);
    if (format === "time") return new Date(value).toLocaleTimeString();
    if (format === "paused") return value ? "Paused" : "On";
    return String(value);
  }

  function render(data) {
    root.querySelectorAll("[data-live]").forEach((element) => {
      const value = lookup(data, element.dataset.live);
      if (value == null) return;
      element.textContent = formatted(value, element.dataset.format);
      if (element.dataset.format === "time") element.setAttribute("datetime", value);
    });
    root.querySelectorAll("[data-live-href]").forEach((link) => {
      const href = lookup(data, link.dataset.liveHref);
      if (href) link.href = href;
    });
    draw(data.chart);
  }

  function element(name, attributes, text) {
    const node = document.createElementNS(SVG, name);
    Object.entries(attributes).forEach(([key, value]) => node.setAttribute(key, value));
    if (text != null) node.textContent = text;
    return node;
  }

  // A round top for the y axis: 1, 2 or 5 times a power of ten.
  function niceMax(value) {
    const power = Math.pow(10, Math.floor(Math.log10(Math.max(value, 1))));
    return [1, 2, 5, 10].map((step) => step * power).find((top) => top >= value);
  }

  function draw(series) {
    const buckets = series.buckets;
    const accepted = buckets.map((bucket) => bucket.accepted / bucket.seconds);
    const confirmed = buckets.map((bucket) => bucket.confirmed / bucket.seconds);
    const top = niceMax(Math.max(...accepted, ...confirmed));
    const slot = (box.right - box.left) / buckets.length;
    const y = (rate) => box.bottom - (rate / top) * (box.bottom - box.top);
    const x = (index) => box.left + slot * (index + 0.5);

    chart.replaceChildren();
    [0, top / 2, top].forEach((rate) => {
      chart.append(element("line", { class: "live-grid", x1: box.left, x2: box.right, y1: y(rate), y2: y(rate) }));
      chart.append(element("text", { class: "live-axis", x: box.left - 6, y: y(rate) + 4, "text-anchor": "end" }, String(rate)));
    });
    const minutes = series.window_seconds / 60;
    chart.append(element("text", { class: "live-axis", x: box.left, y: 194 }, `${minutes} min ago`));
    chart.append(element("text", { class: "live-axis", x: box.right, y: 194, "text-anchor": "end" }, "now"));

    buckets.forEach((bucket, index) => {
      const height = box.bottom - y(accepted[index]);
      const bar = element("rect", {
        class: "live-bar",
        x: x(index) - slot * 0.35,
        y: box.bottom - height,
        width: slot * 0.7,
        height: height,
      });
      const from = new Date(bucket.start).toLocaleTimeString();
      bar.append(element("title", {}, `${from}, ${bucket.seconds} s: ` +
        `${accepted[index].toFixed(1)} accepted/s (${bucket.accepted}), ` +
        `${confirmed[index].toFixed(1)} confirmed/s (${bucket.confirmed})`));
      chart.append(bar);
    });
    const points = confirmed.map((rate, index) => `${x(index).toFixed(1)},${y(rate).toFixed(1)}`);
    chart.append(element("polyline", { class: "live-line", points: points.join(" ") }));
  }

  function say(text) {
    if (problem) problem.textContent = text;
  }

  async function refresh() {
    if (document.visibilityState !== "hidden") {
      try {
        const response = await fetch(feedUrl, {
          headers: { Accept: "application/json" },
          credentials: "same-origin",
          cache: "no-store",
        });
        const type = response.headers.get("Content-Type") || "";
        // Logged out (the admin answers with its login page) or no longer allowed.
        if (response.status === 403 || response.redirected || !type.includes("json")) {
          say("Not updated any more: log in again (with the live sale permission).");
          return;
        }
        if (!response.ok) throw new Error(`the server answered ${response.status}`);
        render(await response.json());
        say("");
      } catch (error) {
        say(`Not updated (${error.message}); trying again.`);
      }
    }
    window.setTimeout(refresh, refreshMs);
  }

  render(JSON.parse(document.getElementById("live-sale-data").textContent));
  window.setTimeout(refresh, refreshMs);
})();
