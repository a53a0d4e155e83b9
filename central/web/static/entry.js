// The entry page: digit keys 1-5 pick the level (1 = 非常满意) when focus is not in a
// text field, the window fills in its registered staff, only the chosen level's reasons show.
(function () {
  var form = document.getElementById("entry-form");
  if (!form) { return; }
  function show() {
    var picked = form.querySelector("input[name=satisfaction]:checked");
    var level = picked ? picked.value : "";
    form.querySelectorAll("fieldset.reasons").forEach(function (fs) {
      var on = fs.getAttribute("data-level") === level;
      fs.hidden = !on;
      if (!on) { fs.querySelectorAll("input").forEach(function (i) { i.checked = false; }); }
    });
  }
  form.addEventListener("change", show);
  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (e.key === "Enter" && t && t.form === form && t.tagName !== "TEXTAREA" && t.tagName !== "BUTTON") {
      e.preventDefault();
      form.requestSubmit();
      return;
    }
    var typing = t && (t.tagName === "TEXTAREA" || (t.tagName === "INPUT" && t.type !== "radio" && t.type !== "checkbox"));
    if (typing || e.ctrlKey || e.altKey || e.metaKey || !/^[1-5]$/.test(e.key)) { return; }
    var radio = form.querySelector("input[name=satisfaction][data-key='" + e.key + "']");
    if (radio) { radio.checked = true; radio.focus(); show(); e.preventDefault(); }
  });
  var win = document.getElementById("window_no");
  var staff = document.getElementById("staff_no");
  win.addEventListener("change", function () {
    var opt = document.querySelector("#windows option[value='" + CSS.escape(win.value) + "']");
    if (opt && !staff.dataset.typed) { staff.value = opt.getAttribute("data-staff") || ""; }
  });
  staff.addEventListener("input", function () { staff.dataset.typed = "1"; });
  win.focus();
  win.select();  // the window of the last entry stays filled in: typing replaces it
  show();
})();
