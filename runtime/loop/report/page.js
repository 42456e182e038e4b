// The report page's script (inlined by runtime/loop/report/html.ts; plain browser JavaScript,
// no modules). It reads the JSON in #report-data and builds its parts: a run summary,
// the curves (uPlot, one line per run, dashed lines at stage switches), the trajectory
// viewer, the credit view (when the report has one) and the configuration table.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var app = document.getElementById("app");
  var colorOf = {};
  data.runs.forEach(function (r) { colorOf[r.name] = r.color; });

  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) for (var k in attrs) {
      if (k === "text") el.textContent = attrs[k];
      else if (k === "style") el.style.cssText = attrs[k];
      else if (k === "class") el.className = attrs[k];
      else el.setAttribute(k, attrs[k]);
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined) continue;
      el.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    }
    return el;
  }

  // Numbers people read: 3 significant digits, exponent for very small or large magnitudes.
  function fmt(v) {
    if (v === null || v === undefined || Number.isNaN(v)) return "—";
    var a = Math.abs(v);
    if (a === 0) return "0";
    if (a < 1e-3 || a >= 1e5) return v.toExponential(2);
    if (Number.isInteger(v)) return String(v);
    return String(Number(v.toPrecision(3)));
  }
  function signed(v) { return v === null || v === undefined ? "—" : (v > 0 ? "+" : "") + fmt(v); }
  function swatch(color) { return h("span", { class: "swatch", style: "background:" + color }); }

  // ---- header and summary ----
  app.appendChild(h("h1", { text: data.title }));
  app.appendChild(h("div", { class: "muted", text: "generated " + data.generated + " · " + data.runs.length + " run" + (data.runs.length === 1 ? "" : "s") }));
  app.appendChild(h("nav", null, h("a", { href: "#curves", text: "Curves" }), h("a", { href: "#trajectories", text: "Trajectories" }), h("a", { href: "#configuration", text: "Configuration" })));

  var evalCharts = data.charts.filter(function (c) { return c.section === "Evaluation"; });
  function lastValue(chart, i) {
    var vs = chart.series[i].values;
    for (var j = vs.length - 1; j >= 0; j--) if (vs[j] !== null) return { v: vs[j], step: chart.x[j] };
    return null;
  }
  var summary = h("table", { class: "data", id: "summary" });
  var head = h("tr", null, h("th", { text: "run" }), h("th", { text: "pipeline" }), h("th", { text: "seed" }), h("th", { text: "steps" }));
  evalCharts.forEach(function (c) { head.appendChild(h("th", { text: "final " + c.title })); });
  summary.appendChild(head);
  data.runs.forEach(function (r, i) {
    var tr = h("tr", null, h("td", null, swatch(r.color), " " + r.name), h("td", { text: r.pipeline || "—" }), h("td", { class: "num", text: r.seed === null ? "—" : String(r.seed) }), h("td", { class: "num", text: String(r.steps) }));
    evalCharts.forEach(function (c) {
      var last = lastValue(c, i);
      tr.appendChild(h("td", { class: "num", title: last ? "step " + last.step : "", text: last ? (100 * last.v).toFixed(1) + " %" : "—" }));
    });
    summary.appendChild(tr);
  });
  app.appendChild(summary);

  // ---- curves ----
  app.appendChild(h("h2", { id: "curves", text: "Curves" }));
  app.appendChild(h("div", { class: "section-note", text: "One line per run; x: optimizer step. Dashed vertical lines mark the first step of a new stage (grey when every run switches there). Hover to read values; drag to zoom, double-click to reset." }));
  var plots = [];

  function drawStageMarks(chart) {
    return function (u) {
      var groups = {};
      chart.marks.forEach(function (m) {
        var key = m.step + "\u0000" + m.stage;
        (groups[key] = groups[key] || { step: m.step, stage: m.stage, runs: [] }).runs.push(m.run);
      });
      var ctx = u.ctx, dpr = window.devicePixelRatio || 1;
      ctx.save();
      ctx.setLineDash([5 * dpr, 4 * dpr]);
      ctx.lineWidth = 1.5 * dpr;
      ctx.font = Math.round(11 * dpr) + "px sans-serif";
      var labelled = 0;
      Object.keys(groups).forEach(function (key) {
        var g = groups[key];
        var x = Math.round(u.valToPos(g.step, "x", true));
        if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) return;
        var color = g.runs.length === data.runs.length ? "#57606a" : colorOf[g.runs[0]];
        ctx.strokeStyle = color;
        ctx.beginPath();
        ctx.moveTo(x, u.bbox.top);
        ctx.lineTo(x, u.bbox.top + u.bbox.height);
        ctx.stroke();
        ctx.fillStyle = color;
        ctx.fillText(g.stage, x + 4 * dpr, u.bbox.top + (12 + 12 * (labelled++ % 3)) * dpr);
      });
      ctx.restore();
    };
  }

  // y range: uPlot's padded range, except where the data are (nearly) constant: a span
  // below ~1e-6 of the values' magnitude (a ratio of 0.9999998 .. 1) is float noise, and
  // uPlot's tick search loops forever on it; show a band of +-5 % around the value instead.
  function flatRange(min, max) {
    if (min === null || max === null) return [0, 1];
    var mag = Math.max(Math.abs(min), Math.abs(max));
    if (max - min <= 1e-6 * mag || mag === 0) {
      var pad = mag > 0 ? mag * 0.05 : 1;
      return [min - pad, max + pad];
    }
    return uPlot.rangeNum(min, max, 0.1, true);
  }

  var STEP_INCRS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000, 20000, 50000, 100000];

  function makePlot(chart, width) {
    var opts = {
      width: width,
      height: 230,
      // A run with one step (or one evaluation) gives a zero-width x range, which uPlot
      // cannot divide into ticks; widen it by a step on each side. Same for flat y data.
      scales: {
        x: { time: false, range: function (u, min, max) { return min === max ? [min - 1, max + 1] : [min, max]; } },
        y: { range: function (u, min, max) { return flatRange(min, max); } },
      },
      cursor: { sync: { key: "steps" } },
      legend: { live: true },
      series: [{ label: "step", value: function (u, v) { return v === null || v === undefined ? "—" : String(v); } }].concat(chart.series.map(function (s) {
        return {
          label: s.run,
          stroke: colorOf[s.run],
          width: 1.6,
          spanGaps: true,
          points: { show: chart.x.length <= 40, size: 5 },
          value: function (u, v) { return fmt(v); },
        };
      })),
      axes: [
        // Steps are integers: no ticks at 1.5.
        { label: "optimizer step", stroke: "#444", grid: { stroke: "#eef0f2" }, ticks: { stroke: "#d0d7de" }, incrs: STEP_INCRS },
        { label: chart.yLabel, stroke: "#444", size: 62, grid: { stroke: "#eef0f2" }, ticks: { stroke: "#d0d7de" }, values: function (u, splits) { return splits.map(fmt); } },
      ],
      hooks: { draw: [drawStageMarks(chart)] },
    };
    return opts;
  }

  var sections = [];
  data.charts.forEach(function (c) { if (sections.indexOf(c.section) < 0) sections.push(c.section); });
  var cards = [];
  sections.forEach(function (section) {
    app.appendChild(h("h2", { text: section }));
    if (section === "Evaluation") app.appendChild(h("div", { class: "section-note", text: "From eval.jsonl: held-out problems, k samples each; Acc@k is the mean accuracy of the k samples, pass@k the unbiased estimator." }));
    var grid = h("div", { class: "grid" });
    app.appendChild(grid);
    data.charts.filter(function (c) { return c.section === section; }).forEach(function (c) {
      var card = h("div", { class: "chart", id: c.id, "data-title": c.title }, h("h3", { text: c.title }));
      grid.appendChild(card);
      cards.push({ chart: c, card: card });
    });
    if (section === "Time") app.appendChild(timeTable());
  });
  if (sections.indexOf("Time") < 0 && data.timeSplit.some(function (t) { return t.phases.some(function (p) { return p.seconds !== null; }); })) app.appendChild(timeTable());
  if (data.charts.length === 0) app.appendChild(h("p", { class: "muted", text: "No metrics recorded in these runs." }));

  function chartWidth(card) { return Math.max(320, card.clientWidth - 18); }
  cards.forEach(function (x) {
    var c = x.chart;
    var aligned = [c.x].concat(c.series.map(function (s) { return s.values; }));
    try {
      plots.push({ plot: new uPlot(makePlot(c, chartWidth(x.card)), aligned, x.card), card: x.card });
    } catch (e) {
      // One bad chart must not take the rest of the page with it; say which one failed.
      x.card.appendChild(h("div", { class: "error", text: "could not draw this chart: " + e.message }));
      console.error("chart " + c.id + ": " + (e && e.stack ? e.stack : e));
    }
  });
  var resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () {
      plots.forEach(function (p) { p.plot.setSize({ width: chartWidth(p.card), height: 230 }); });
    }, 100);
  });

  function timeTable() {
    var phaseColors = ["#4e79a7", "#f28e2b", "#e15759", "#59a14f"];
    var wrap = h("div", { id: "time-split" }, h("h3", { text: "Time split: mean seconds per step in each phase" }));
    var t = h("table", { class: "data" });
    var hr = h("tr", null, h("th", { text: "run" }));
    data.timeSplit[0].phases.forEach(function (p, i) { hr.appendChild(h("th", null, swatch(phaseColors[i]), " " + p.label)); });
    hr.appendChild(h("th", { text: "share of step" }));
    t.appendChild(hr);
    data.timeSplit.forEach(function (row) {
      var total = row.phases.reduce(function (a, p) { return a + (p.seconds || 0); }, 0);
      var tr = h("tr", null, h("td", null, swatch(colorOf[row.run]), " " + row.run));
      var bar = h("div", { class: "split-row" });
      row.phases.forEach(function (p, i) {
        tr.appendChild(h("td", { class: "num", text: p.seconds === null ? "—" : p.seconds.toFixed(3) + " s" + (total > 0 ? " (" + (100 * p.seconds / total).toFixed(0) + " %)" : "") }));
        if (total > 0 && p.seconds) bar.appendChild(h("span", { class: "bar", title: p.label, style: "width:" + (100 * p.seconds / total) + "%;background:" + phaseColors[i] }));
      });
      tr.appendChild(h("td", null, bar));
      t.appendChild(tr);
    });
    wrap.appendChild(t);
    return wrap;
  }

  // ---- trajectories ----
  app.appendChild(h("h2", { id: "trajectories", text: "Trajectories" }));
  app.appendChild(h("div", { class: "section-note" },
    "Samples from samples.jsonl. Token background: rollout entropy, white = 0 to ",
    h("span", { class: "scale", style: "background:linear-gradient(90deg,#fff," + heat(0.5) + "," + heat(1) + ")" }),
    " = " + fmt(data.entropyMax) + " nats or more. One row per reasoning step, with its attribution C (bar: green helps, red hurts), weight w and mean entropy H̄."));
  var runSel = h("select", { id: "traj-run" });
  var stepSel = h("select", { id: "traj-step" });
  var filterSel = h("select", { id: "traj-filter" }, h("option", { value: "all", text: "all responses" }), h("option", { value: "correct", text: "correct only" }), h("option", { value: "wrong", text: "incorrect only" }));
  data.samples.forEach(function (rs, i) { runSel.appendChild(h("option", { value: String(i), text: rs.run + " (" + rs.samples.length + ")" })); });
  app.appendChild(h("div", { class: "controls" }, h("label", null, "run ", runSel), h("label", null, "step ", stepSel), h("label", null, "show ", filterSel)));
  // Lines the loader left out (runtime/loop/report/load.ts): say which and why, above the viewer.
  var SHOWN_PROBLEMS = 50;
  if (data.problems.length > 0) {
    var list = h("ul");
    data.problems.slice(0, SHOWN_PROBLEMS).forEach(function (p) { list.appendChild(h("li", { text: p })); });
    if (data.problems.length > SHOWN_PROBLEMS) list.appendChild(h("li", { text: "… and " + (data.problems.length - SHOWN_PROBLEMS) + " more (acpo report lists them all on stderr)" }));
    app.appendChild(h("div", { class: "problems", id: "traj-problems" }, h("b", { text: data.problems.length + " sample line" + (data.problems.length === 1 ? " was" : "s were") + " left out:" }), list));
  }
  var trajNote = h("div", { class: "section-note" });
  var trajList = h("div", { id: "traj-list" });
  app.appendChild(trajNote);
  app.appendChild(trajList);

  function heat(t) {
    t = Math.max(0, Math.min(1, t));
    return "rgba(230, 85, 13, " + (0.06 + 0.8 * t).toFixed(3) + ")";
  }
  function stepKey(s) { return s.step === null ? "none" : String(s.step); }
  function fillSteps() {
    var rs = data.samples[Number(runSel.value)];
    stepSel.innerHTML = "";
    if (!rs) return;
    var keys = [];
    rs.samples.forEach(function (s) { var k = stepKey(s); if (keys.indexOf(k) < 0) keys.push(k); });
    keys.sort(function (a, b) { return (a === "none" ? -1 : Number(a)) - (b === "none" ? -1 : Number(b)); });
    keys.forEach(function (k) {
      var n = rs.samples.filter(function (s) { return stepKey(s) === k; }).length;
      stepSel.appendChild(h("option", { value: k, text: (k === "none" ? "(no step)" : "step " + k) + " · " + n }));
    });
  }
  function tokenSpan(s, t) {
    var hv = s.entropy[t];
    var piece = s.pieces ? s.pieces[t] : "#" + s.tokens[t];
    var nl = s.pieces && piece.indexOf("\n") >= 0;
    var span = h("span", { class: "tok" + (s.pieces ? "" : " id"), title: "token " + t + " · id " + s.tokens[t] + " · H " + fmt(hv) + " nats", style: "background:" + (hv === null ? "transparent" : heat(hv / data.entropyMax)) }, nl ? piece.replace(/\n/g, "↵\n") : piece);
    return span;
  }
  function renderSample(s) {
    var good = s.correct === true;
    var head = h("div", { class: "traj-head" },
      h("span", null, "group " + (s.group === null ? "—" : s.group)),
      h("span", null, "reward ", h("b", { text: fmt(s.reward) })),
      h("span", { class: good ? "ok" : "bad", text: s.correct === null ? "" : good ? "✓ correct" : "✗ incorrect" }),
      h("span", null, "answer: ", h("code", { text: s.answer === null ? "(none)" : s.answer })),
      s.reason ? h("span", { class: "muted", text: s.reason }) : null,
      h("span", { class: "muted", text: (s.stage ? "stage " + s.stage + " · " : "") + s.tokens.length + " tokens · " + s.stepStarts.length + " step" + (s.stepStarts.length === 1 ? "" : "s") }));
    var box = h("div", { class: "traj" }, head);
    if (s.prompt !== null) box.appendChild(h("details", null, h("summary", { text: "prompt" }), h("pre", { text: s.prompt })));
    var table = h("table", { class: "steps" });
    var cAbs = s.C ? Math.max.apply(null, s.C.map(function (c) { return Math.abs(c || 0); }).concat([1e-9])) : 1;
    s.stepStarts.forEach(function (start, k) {
      var end = k + 1 < s.stepStarts.length ? s.stepStarts[k + 1] : s.tokens.length;
      var info = h("td", { class: "step-info" }, h("b", { text: "S" + (k + 1) }), " ", h("span", { class: "muted", text: "tokens " + start + "–" + (end - 1) }));
      if (s.C) {
        var c = s.C[k];
        var bar = h("span", { class: "cbar", style: "width:" + (c === null || c === undefined ? 0 : Math.round(50 * Math.abs(c) / cAbs)) + "px;background:" + (c >= 0 ? "#2da44e" : "#cf222e") });
        info.appendChild(h("div", null, "C " + signed(c === undefined ? null : c), bar));
      }
      if (s.w) info.appendChild(h("div", { text: "w " + fmt(s.w[k] === undefined ? null : s.w[k]) }));
      var hbar = s.stepEntropy ? s.stepEntropy[k] : meanOf(s.entropy.slice(start, end));
      info.appendChild(h("div", { class: "muted", text: "H̄ " + fmt(hbar === undefined ? null : hbar) }));
      var toks = h("td", { class: "tokens" });
      for (var t = start; t < end; t++) toks.appendChild(tokenSpan(s, t));
      table.appendChild(h("tr", { class: "step-row" }, info, toks));
    });
    box.appendChild(table);
    if (s.text !== null) box.appendChild(h("details", null, h("summary", { text: "decoded text" }), h("pre", { text: s.text })));
    return box;
  }
  function meanOf(xs) {
    var v = xs.filter(function (x) { return x !== null; });
    return v.length ? v.reduce(function (a, b) { return a + b; }, 0) / v.length : null;
  }
  // A failure while drawing trajectories is shown in their place; the configuration
  // below must still render (the loader validates samples, so this is a last resort).
  function guarded(f) {
    return function () {
      try {
        f();
      } catch (e) {
        trajList.appendChild(h("div", { class: "error", text: "could not show these trajectories: " + e.message }));
        console.error("trajectories: " + (e && e.stack ? e.stack : e));
      }
    };
  }
  function renderTrajectories() {
    trajList.innerHTML = "";
    var rs = data.samples[Number(runSel.value)];
    if (!rs || rs.samples.length === 0) {
      trajNote.textContent = "This run has no samples.jsonl.";
      return;
    }
    trajNote.textContent = rs.tokenNote || "";
    var f = filterSel.value;
    var shown = rs.samples.filter(function (s) {
      return stepKey(s) === stepSel.value && (f === "all" || (f === "correct") === (s.correct === true));
    });
    shown.sort(function (a, b) { return (a.group || 0) - (b.group || 0); });
    if (shown.length === 0) trajList.appendChild(h("p", { class: "muted", text: "No responses match." }));
    shown.forEach(function (s) { trajList.appendChild(renderSample(s)); });
  }
  runSel.addEventListener("change", guarded(function () { fillSteps(); renderTrajectories(); }));
  stepSel.addEventListener("change", guarded(renderTrajectories));
  filterSel.addEventListener("change", guarded(renderTrajectories));
  // Open on the first run whose samples carry attribution: that is what the viewer is for.
  var withC = data.samples.findIndex(function (rs) { return rs.samples.some(function (s) { return s.C; }); });
  runSel.value = String(Math.max(0, withC));
  guarded(function () { fillSteps(); renderTrajectories(); })();

  // ---- credit view (acpo report --credit-vs): one run's responses under two pipelines ----
  if (data.credit) guardedCredit(data.credit);

  // ---- configuration ----
  app.appendChild(h("h2", { id: "configuration", text: "Configuration" }));
  var cfg = data.config;
  var nDiff = cfg.rows.filter(function (r) { return r.differs; }).length;
  if (cfg.rows.length === 0) {
    app.appendChild(h("p", { class: "muted", text: "No config.resolved.json in these runs." }));
  } else {
    var only = h("input", { type: "checkbox", id: "config-only-diff" });
    app.appendChild(h("div", { class: "section-note" }, "The resolved pipelines (config.resolved.json). " + (data.runs.length > 1 ? nDiff + " setting" + (nDiff === 1 ? " differs" : "s differ") + " between runs (highlighted). " : ""), data.runs.length > 1 ? h("label", null, only, " show only settings that differ") : null));
    var table = h("table", { class: "data config", id: "config-table" });
    var tr = h("tr", null, h("th", { text: "setting" }));
    cfg.runs.forEach(function (name) { tr.appendChild(h("th", null, swatch(colorOf[name]), " " + name)); });
    table.appendChild(tr);
    cfg.rows.forEach(function (row) {
      var r = h("tr", { class: row.differs ? "differs" : "", "data-key": row.key }, h("th", { text: row.key }));
      row.values.forEach(function (v) { r.appendChild(h("td", { text: v === null ? "(absent)" : v })); });
      table.appendChild(r);
    });
    app.appendChild(table);
    only.addEventListener("change", function () {
      Array.prototype.forEach.call(table.querySelectorAll("tr[data-key]"), function (r) {
        r.style.display = only.checked && !r.classList.contains("differs") ? "none" : "";
      });
    });
  }
  document.body.setAttribute("data-rendered", String(plots.length));

  // Diverging colour for a credit, on a scale both columns share: red below 0, white at 0,
  // blue above, saturating at |credit| = scale; masked tokens (null) have no colour.
  function creditColor(v, scale) {
    if (v === null || v === undefined) return "transparent";
    var t = Math.max(-1, Math.min(1, v / scale));
    var end = t >= 0 ? [33, 102, 172] : [178, 24, 43];
    var a = Math.abs(t);
    return "rgb(" + end.map(function (c) { return Math.round(255 + (c - 255) * a); }).join(", ") + ")";
  }
  function signDiffers(a, b) { return a !== null && b !== null && a * b < 0; }

  function guardedCredit(cv) {
    app.appendChild(h("h2", { id: "credit", text: "Credit: " + cv.pipelines[0] + " vs " + cv.pipelines[1] }));
    var body = h("div", { id: "credit-body" });
    try {
      renderCreditSection(cv, body);
    } catch (e) {
      body.appendChild(h("div", { class: "error", text: "could not show the credit view: " + e.message }));
      console.error("credit: " + (e && e.stack ? e.stack : e));
    }
    app.appendChild(body);
  }

  function renderCreditSection(cv, body) {
    var nav = app.querySelector("nav");
    nav.insertBefore(h("a", { href: "#credit", text: "Credit" }), nav.lastChild);
    body.appendChild(h("div", { class: "section-note" },
      "The responses " + cv.run + " recorded (samples.jsonl), scored again by the compiler's interpreter under two pipelines: left " + cv.pipelines[0] + " (" + cv.sources[0] + "), right " + cv.pipelines[1] + " (" + cv.sources[1] + "). A token's credit is its advantage × token weight; a step's, the mean over its tokens in the loss. Token background, same scale for both: ",
      h("span", { class: "scale", style: "background:linear-gradient(90deg," + creditColor(-cv.scale, cv.scale) + ",#fff," + creditColor(cv.scale, cv.scale) + ")" }),
      " from −" + fmt(cv.scale) + " (red) through 0 (white) to +" + fmt(cv.scale) + " (blue); uncoloured tokens are outside the loss. Highlighted steps: the two credits have opposite signs. Batch-level statistics (e.g. a mean over the batch) see only the recorded lines."));
    var stepSel = h("select", { id: "credit-step" });
    var filterSel = h("select", { id: "credit-filter" }, h("option", { value: "all", text: "all responses" }), h("option", { value: "differ", text: "responses with a sign disagreement" }));
    var keys = [];
    cv.samples.forEach(function (s) { var k = stepKey(s); if (keys.indexOf(k) < 0) keys.push(k); });
    keys.forEach(function (k) {
      var n = cv.samples.filter(function (s) { return stepKey(s) === k; }).length;
      stepSel.appendChild(h("option", { value: k, text: (k === "none" ? "(no step)" : "step " + k) + " · " + n }));
    });
    body.appendChild(h("div", { class: "controls" }, h("label", null, "step ", stepSel), h("label", null, "show ", filterSel)));
    if (cv.tokenNote) body.appendChild(h("div", { class: "section-note", text: cv.tokenNote }));
    var list = h("div", { id: "credit-list" });
    body.appendChild(list);
    function differing(s) { return s.credit[0].steps.some(function (a, k) { return signDiffers(a, s.credit[1].steps[k]); }); }
    function render() {
      list.innerHTML = "";
      var shown = cv.samples.filter(function (s) { return stepKey(s) === stepSel.value && (filterSel.value === "all" || differing(s)); });
      if (shown.length === 0) list.appendChild(h("p", { class: "muted", text: "No responses match." }));
      shown.forEach(function (s) { list.appendChild(creditSample(cv, s)); });
    }
    stepSel.addEventListener("change", render);
    filterSel.addEventListener("change", render);
    render();
  }

  function creditToken(s, t, v, scale) {
    var piece = s.pieces ? s.pieces[t] : "#" + s.tokens[t];
    var text = s.pieces && piece.indexOf("\n") >= 0 ? piece.replace(/\n/g, "↵\n") : piece;
    var dark = v !== null && Math.abs(v) > 0.6 * scale;
    return h("span", { class: "tok ctok" + (s.pieces ? "" : " id") + (v === null ? " masked" : ""), "data-credit": v === null ? "" : String(v), title: "token " + t + " · id " + s.tokens[t] + " · credit " + signed(v), style: "background:" + creditColor(v, scale) + (dark ? ";color:#fff" : "") }, text);
  }

  function creditSample(cv, s) {
    var A = s.credit[0], B = s.credit[1];
    var nDiff = A.steps.filter(function (a, k) { return signDiffers(a, B.steps[k]); }).length;
    var box = h("div", { class: "traj credit-sample" }, h("div", { class: "traj-head" },
      h("span", null, "group " + (s.group === null ? "—" : s.group)),
      h("span", null, "reward ", h("b", { text: fmt(s.reward) })),
      h("span", { class: s.correct === true ? "ok" : "bad", text: s.correct === null ? "" : s.correct ? "✓ correct" : "✗ incorrect" }),
      h("span", { class: "muted", text: s.tokens.length + " tokens · " + s.stepStarts.length + " step" + (s.stepStarts.length === 1 ? "" : "s") + " · stages " + A.stage + " / " + B.stage }),
      h("span", { class: nDiff ? "bad" : "muted", text: nDiff + " step" + (nDiff === 1 ? "" : "s") + " with opposite signs" })));
    var cols = h("table", { class: "steps credit-cols" }, h("tr", null, h("th", { text: "" }), h("th", { text: cv.pipelines[0] }), h("th", { text: cv.pipelines[1] })));
    var table = h("table", { class: "data credit-steps" }, h("tr", null, h("th", { text: "step" }), h("th", { text: "tokens" }), h("th", { text: cv.pipelines[0] }), h("th", { text: cv.pipelines[1] }), h("th", { text: "difference (right − left)" })));
    s.stepStarts.forEach(function (start, k) {
      var end = k + 1 < s.stepStarts.length ? s.stepStarts[k + 1] : s.tokens.length;
      var a = A.steps[k], b = B.steps[k];
      var cls = signDiffers(a, b) ? "sign-differs" : "";
      var row = h("tr", { class: "step-row " + cls, "data-step": String(k) }, h("td", { class: "step-info" }, h("b", { text: "S" + (k + 1) }), " ", h("span", { class: "muted", text: "tokens " + start + "–" + (end - 1) })));
      [A, B].forEach(function (side) {
        var td = h("td", { class: "tokens" });
        for (var t = start; t < end; t++) td.appendChild(creditToken(s, t, side.tokens[t], cv.scale));
        row.appendChild(td);
      });
      cols.appendChild(row);
      var diff = a === null || b === null ? null : b - a;
      table.appendChild(h("tr", { class: cls, "data-step": String(k) },
        h("td", { text: "S" + (k + 1) }), h("td", { class: "num", text: start + "–" + (end - 1) }),
        h("td", { class: "num", "data-value": a === null ? "" : String(a), text: signed(a) }),
        h("td", { class: "num", "data-value": b === null ? "" : String(b), text: signed(b) }),
        h("td", { class: "num", "data-value": diff === null ? "" : String(diff), text: signed(diff) })));
    });
    box.appendChild(cols);
    box.appendChild(h("div", { class: "credit-table-wrap" }, table));
    return box;
  }
})();
