// The QR phone page: show only the reasons of the chosen level.
(function () {
  var form = document.getElementById("qr-form");
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
  show();
})();
