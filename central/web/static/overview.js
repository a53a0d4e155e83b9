/* Draws the trend-by-day chart of the overview from the JSON block on the page. */
(function () {
  "use strict";
  var el = document.getElementById("trend-chart");
  var dataEl = document.getElementById("trend-data");
  if (!el || !dataEl || typeof echarts === "undefined") { return; }
  var data = JSON.parse(dataEl.textContent);
  var labels = JSON.parse(document.getElementById("trend-labels").textContent);
  var colors = { "5": "#1a9850", "4": "#66bd63", "3": "#d9b03b", "2": "#f46d43", "1": "#d73027" };
  var series = ["5", "4", "3", "2", "1"].map(function (k) {
    return { name: labels.levels[k], type: "bar", stack: "levels", data: data.levels[k],
             itemStyle: { color: colors[k] }, emphasis: { focus: "series" } };
  });
  series.push({ name: labels.good_rate, type: "line", yAxisIndex: 1, data: data.good_rate,
                connectNulls: true, symbolSize: 5, itemStyle: { color: "#2b5797" } });
  var chart = echarts.init(el, null, { renderer: "canvas" });
  chart.setOption({
    animation: false,
    tooltip: { trigger: "axis", renderMode: "richText" },  // drawn on the canvas: no inline styles (CSP)
    legend: { top: 0, type: "scroll" },
    grid: { left: 40, right: 44, top: 36, bottom: 28 },
    xAxis: { type: "category", data: data.days.map(function (d) { return d.slice(5); }) },
    yAxis: [{ type: "value", minInterval: 1 },
            { type: "value", min: data.rate_min, max: data.rate_max, axisLabel: { formatter: "{value}%" } }],
    series: series
  });
  el.setAttribute("data-rendered", "1");
  window.addEventListener("resize", function () { chart.resize(); });
})();

/* The heat map: ratings by weekday and hour (server timezone). */
(function () {
  "use strict";
  var el = document.getElementById("heatmap-chart");
  var dataEl = document.getElementById("heatmap-data");
  if (!el || !dataEl || typeof echarts === "undefined") { return; }
  var data = JSON.parse(dataEl.textContent);
  var cells = [], max = 0;
  data.grid.forEach(function (row, d) {
    row.forEach(function (n, h) { cells.push([h, d, n]); if (n > max) { max = n; } });
  });
  var hours = [];
  for (var h = 0; h < 24; h++) { hours.push(String(h)); }
  var chart = echarts.init(el, null, { renderer: "canvas" });
  chart.setOption({
    animation: false,
    tooltip: { position: "top", renderMode: "richText" },
    grid: { left: 48, right: 16, top: 8, bottom: 64 },
    xAxis: { type: "category", data: hours, splitArea: { show: true } },
    yAxis: { type: "category", data: data.days, inverse: true, splitArea: { show: true } },
    visualMap: { min: 0, max: Math.max(max, 1), calculable: true, orient: "horizontal", left: "center",
                 bottom: 0, inRange: { color: ["#f4f6f9", "#9ecae1", "#2b5797"] } },
    series: [{ name: data.label, type: "heatmap", data: cells,
               label: { show: true, fontSize: 10, formatter: function (p) { return p.value[2] ? String(p.value[2]) : ""; } } }]
  });
  el.setAttribute("data-rendered", "1");
  el.setAttribute("data-total", String(cells.reduce(function (s, c) { return s + c[2]; }, 0)));
  window.addEventListener("resize", function () { chart.resize(); });
})();
