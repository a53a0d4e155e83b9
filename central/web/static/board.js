// The hall board: loaded once, then it fetches /board.json every `refresh` seconds
// and shows its pages in turn every `interval` seconds. When a fetch fails the last
// figures stay on screen with a quiet "连接中断" mark; the next good fetch clears it.
// Everything is built with textContent (no markup from data; no inline styles: CSP).
(function () {
  "use strict";
  var boot = JSON.parse(document.getElementById("board-data").textContent);
  var cfg = boot.config, L = cfg.labels, doc = boot.doc, index = 0;
  var LEVELS = ["5", "4", "3", "2", "1"];

  function byId(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }
  function rate(v) { return v === null || v === undefined ? "—" : (v * 100).toFixed(2) + "%"; }
  // a rate's colour: green from 90 %, amber from 60 %, red below; grey "—" without data
  function rateClass(v) {
    if (v === null || v === undefined) { return "none"; }
    return v >= 0.9 ? "good" : v >= 0.6 ? "fair" : "poor";
  }

  function tile(cls, key, value, id) {
    var t = el("div", "tile " + cls);
    if (id) { t.id = id; }
    t.appendChild(el("span", "k", key));
    t.appendChild(el("span", "v", value));
    return t;
  }

  function totalPage(row) {
    var box = el("div", "tiles");
    box.id = "board-total";
    box.appendChild(tile("count", L.count, row.count));
    box.appendChild(tile(rateClass(row.good_rate), L.good_rate, rate(row.good_rate), "board-good-rate"));
    box.appendChild(tile("bad", L.bad, row.bad));
    box.appendChild(tile("warn", L.bad_unrectified, row.bad_unrectified));
    box.appendChild(tile(rateClass(row.rectify_rate), L.rectify_rate, rate(row.rectify_rate), "board-rectify-rate"));
    LEVELS.forEach(function (lv) { box.appendChild(tile("lvl lv" + lv, L.levels[lv], row.levels[lv])); });
    return box;
  }

  function headRow(kind) {
    var tr = el("tr");
    var names = [L["key_" + kind], L.count].concat(LEVELS.map(function (lv) { return L.levels[lv]; }),
      [L.bad, L.bad_unrectified, L.good_rate, L.rectify_rate]);
    names.forEach(function (name, i) {
      var th = el("th", i >= 2 && i < 7 ? "lvh lv" + LEVELS[i - 2] : "", name);
      th.scope = "col";
      tr.appendChild(th);
    });
    return tr;
  }

  function bodyRow(row) {
    var tr = el("tr");
    tr.setAttribute("data-key", row.key);
    var key = el("th", "key", row.key || L.unassigned);
    key.scope = "row";
    tr.appendChild(key);
    tr.appendChild(el("td", "", row.count));
    LEVELS.forEach(function (lv) { tr.appendChild(el("td", "", row.levels[lv])); });
    tr.appendChild(el("td", "bad", row.bad));
    tr.appendChild(el("td", "", row.bad_unrectified));
    tr.appendChild(el("td", rateClass(row.good_rate), rate(row.good_rate)));
    var rect = el("td", rateClass(row.rectify_rate), rate(row.rectify_rate));
    rect.setAttribute("data-field", "rectify_rate");
    tr.appendChild(rect);
    return tr;
  }

  function tablePage(page) {
    var wrap = el("div", "scroll");
    wrap.tabIndex = 0;
    wrap.setAttribute("aria-label", L[page.kind]);
    var table = el("table", "boardtable");
    table.id = "board";
    var thead = el("thead"), tbody = el("tbody");
    thead.appendChild(headRow(page.kind));
    page.rows.forEach(function (row) { tbody.appendChild(bodyRow(row)); });
    if (!page.rows.length) {
      var td = el("td", "empty", L.none);
      td.colSpan = 11;
      tbody.appendChild(el("tr")).appendChild(td);
    }
    table.appendChild(thead);
    table.appendChild(tbody);
    wrap.appendChild(table);
    return wrap;
  }

  function show() {
    var pages = doc.pages;
    if (index >= pages.length) { index = 0; }
    var page = pages[index], box = byId("board-page");
    box.setAttribute("data-kind", page.kind);
    box.setAttribute("data-n", page.n);
    box.replaceChildren(page.kind === "total" ? totalPage(page.rows[0]) : tablePage(page));
    byId("board-title").textContent = L[page.kind] + (page.of > 1 ? "（" + page.n + "/" + page.of + "）" : "");
    byId("board-pager").textContent = (index + 1) + " / " + pages.length;
    byId("board-updated").textContent = L.updated + " " + doc.updated;
  }

  function online(ok) {
    byId("board-offline").hidden = ok;
    document.body.classList.toggle("is-offline", !ok);
  }

  function refresh() {
    var ctl = window.AbortController ? new AbortController() : null;
    var timer = ctl ? setTimeout(function () { ctl.abort(); }, Math.max(cfg.refresh, 5) * 1000) : null;
    fetch("/board.json?" + cfg.query, {cache: "no-store", credentials: "same-origin", signal: ctl && ctl.signal})
      .then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.json();
      })
      .then(function (data) { doc = data; show(); online(true); },
            function () { online(false); })
      .then(function () {
        if (timer) { clearTimeout(timer); }
        setTimeout(refresh, cfg.refresh * 1000);
      });
  }

  function clock() {
    var now = new Date(), locale = cfg.lang === "en" ? "en-GB" : "zh-CN", t, d;
    try {
      t = now.toLocaleTimeString(locale, {timeZone: cfg.timezone, hour: "2-digit", minute: "2-digit", hour12: false});
      d = now.toLocaleDateString(locale, {timeZone: cfg.timezone, year: "numeric", month: "long", day: "numeric",
                                          weekday: "long"});
    } catch (e) {
      t = now.toLocaleTimeString(locale, {hour: "2-digit", minute: "2-digit", hour12: false});
      d = now.toLocaleDateString(locale);
    }
    byId("board-clock").textContent = t;
    byId("board-date").textContent = d;
  }

  show();
  clock();
  setInterval(clock, 1000);
  setInterval(function () { index = (index + 1) % doc.pages.length; show(); }, cfg.interval * 1000);
  setTimeout(refresh, cfg.refresh * 1000);
}());
