/* Sorts a table.sortable by any column: a button in each th, aria-sort on the th;
   cells with data-sort sort by it (numbers numerically: 10 after 9). */
(function () {
  "use strict";
  function value(row, i, numeric) {
    var cell = row.cells[i];
    var v = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent.trim();
    return numeric ? parseFloat(v) || 0 : v;
  }
  function sortBy(table, th, numeric) {
    var i = Array.prototype.indexOf.call(th.parentNode.children, th);
    var asc = th.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(th.parentNode.children, function (h) {
      if (h.hasAttribute("aria-sort")) { h.setAttribute("aria-sort", "none"); }
    });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.filter.call(body.rows, function (r) { return r.hasAttribute("data-key"); });
    rows.sort(function (a, b) {
      var x = value(a, i, numeric), y = value(b, i, numeric);
      var d = numeric ? x - y : String(x).localeCompare(String(y), "zh-CN", { numeric: true });
      return asc ? d : -d;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.querySelectorAll("th button.sort"), function (b) {
      b.addEventListener("click", function () { sortBy(table, b.parentNode, b.getAttribute("data-type") === "num"); });
    });
  });
})();
