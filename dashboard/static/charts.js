// Overview charts: Plotly figures from charts.json (built by eval/report/figures.py line_chart), re-smoothed
// in place when the smoothing slider moves. A smoothed trace names its raw trace in meta.raw.
(function () {
  "use strict";
  const box = document.getElementById("charts");
  if (!box) return;
  const slider = document.getElementById("smoothing");
  const shown = document.getElementById("smoothing-value");
  const KEY = "georft.dashboard.smoothing";
  const saved = window.localStorage.getItem(KEY);
  if (saved !== null && !isNaN(parseFloat(saved))) slider.value = saved;

  // TensorBoard's debiased EMA, the same formula as eval.report.figures.ema (null/NaN points carry the average).
  function ema(ys, w) {
    let last = 0, acc = 0;
    return ys.map(function (v) {
      if (v !== null && isFinite(v)) {
        last = w * last + (1 - w) * v;
        acc = w * acc + (1 - w);
      }
      return acc > 0 ? last / acc : null;
    });
  }

  function smooth(div, w) {
    const idx = [], ys = [];
    div.data.forEach(function (t, i) {
      if (t.meta && t.meta.raw !== undefined) {
        idx.push(i);
        ys.push(ema(div.data[t.meta.raw].y, w));
      }
    });
    if (idx.length) return Plotly.restyle(div, { y: ys }, idx);
    return Promise.resolve();
  }

  function apply() {
    const w = Math.min(0.99, Math.max(0, parseFloat(slider.value) || 0));
    shown.textContent = w.toFixed(2);
    window.localStorage.setItem(KEY, String(w));
    const divs = Array.prototype.slice.call(box.querySelectorAll("div.chart"));
    return Promise.all(divs.map(function (d) { return smooth(d, w); })).then(function () {
      box.dataset.smoothing = w.toFixed(2);
    });
  }

  fetch(box.dataset.src).then(function (r) {
    if (!r.ok) throw new Error("charts.json: HTTP " + r.status);
    return r.json();
  }).then(function (charts) {
    box.textContent = "";
    if (!charts.length) {
      const p = document.createElement("p");
      p.className = "empty";
      p.textContent = "No rollouts to chart.";
      box.appendChild(p);
    }
    return Promise.all(charts.map(function (c) {
      const div = document.createElement("div");
      div.className = "chart";
      div.id = "chart-" + c.id;
      box.appendChild(div);
      return Plotly.newPlot(div, c.figure.data, c.figure.layout,
                            { displaylogo: false, responsive: true });
    }));
  }).then(apply).then(function () {
    box.dataset.ready = "1";
    slider.addEventListener("input", apply);
  }).catch(function (e) {
    box.textContent = "charts failed to load: " + e.message;
    box.dataset.ready = "error";
  });
})();
