// Experiment sections of the report page (runtime/loop/report/sections.ts describes the data;
// not named sections.js, which would shadow sections.ts for imports of "./sections.js"),
// inlined after page.js with its data in #sections-data (sections.ts, withSections): each
// section's tables and charts go above the per-run curves.
(function () {
  "use strict";
  var el = document.getElementById("sections-data");
  if (!el) return;
  var data = { sections: JSON.parse(el.textContent) };
  var app = document.getElementById("app");
  var anchor = document.getElementById("curves");

  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) for (var k in attrs) {
      if (k === "text") el.textContent = attrs[k];
      else if (k === "class") el.className = attrs[k];
      else el.setAttribute(k, attrs[k]);
    }
    for (var i = 2; i < arguments.length; i++) if (arguments[i]) el.appendChild(arguments[i]);
    return el;
  }
  function put(el) { if (anchor) app.insertBefore(el, anchor); else app.appendChild(el); }
  function fmt(v) {
    if (v === null || v === undefined || Number.isNaN(v)) return "—";
    var a = Math.abs(v);
    if (a === 0) return "0";
    if (a < 1e-3 || a >= 1e5) return v.toExponential(2);
    return String(Number(v.toPrecision(3)));
  }
  function rgba(hex, alpha) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + alpha + ")";
  }

  var plots = [];
  data.sections.forEach(function (s) {
    put(h("h2", { id: s.id, text: s.title }));
    put(h("div", { class: "section-note", text: s.note }));
    s.tables.forEach(function (t) {
      var table = h("table", { class: "data" });
      var head = h("tr");
      t.header.forEach(function (c) { head.appendChild(h("th", { text: c })); });
      table.appendChild(head);
      t.rows.forEach(function (r) {
        var tr = h("tr");
        r.forEach(function (c, i) { tr.appendChild(h("td", { class: i === 0 ? "" : "num", text: c })); });
        table.appendChild(tr);
      });
      put(table);
      if (t.note) put(h("div", { class: "section-note", text: t.note }));
    });
    var grid = h("div", { class: "grid" });
    put(grid);
    s.charts.forEach(function (c) {
      var card = h("div", { class: "chart", id: c.id, "data-title": c.title }, h("h3", { text: c.title }));
      grid.appendChild(card);
      plots.push({ chart: c, card: card });
    });
  });

  plots.forEach(function (p) {
    var c = p.chart;
    var opts = {
      width: Math.max(320, p.card.clientWidth - 18),
      height: 230,
      scales: { x: { time: false, range: function (u, min, max) { return min === max ? [min - 1, max + 1] : [min, max]; } } },
      legend: { live: true },
      series: [{ label: c.xLabel, value: function (u, v) { return fmt(v); } }].concat(c.series.map(function (s) {
        return { label: s.label, stroke: rgba(s.color, s.alpha), width: s.width, spanGaps: true, points: { show: false }, value: function (u, v) { return fmt(v); } };
      })),
      axes: [
        { label: c.xLabel, stroke: "#444", grid: { stroke: "#eef0f2" } },
        { label: c.yLabel, stroke: "#444", size: 62, grid: { stroke: "#eef0f2" }, values: function (u, splits) { return splits.map(fmt); } },
      ],
    };
    try {
      new uPlot(opts, [c.x].concat(c.series.map(function (s) { return s.values; })), p.card);
    } catch (e) {
      p.card.appendChild(h("div", { class: "error", text: "could not draw this chart: " + e.message }));
    }
  });
})();
