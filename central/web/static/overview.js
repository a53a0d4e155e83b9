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
            { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } }],
    series: series
  });
  el.setAttribute("data-rendered", "1");
  window.addEventListener("resize", function () { chart.resize(); });
})();
