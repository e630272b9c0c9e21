// Progressive enhancement only: the page works without it (a meta refresh polls instead).
(function () {
  var el = document.querySelector("[data-status-url]");
  if (el) {
    var url = el.getAttribute("data-status-url");
    var tick = function () {
      fetch(url, { credentials: "same-origin", cache: "no-store" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (s) {
          if (s && s.status !== "pending") { window.location.reload(); } else { setTimeout(tick, 2000); }
        })
        .catch(function () { setTimeout(tick, 4000); });
    };
    setTimeout(tick, 2000);
  }
  var form = document.querySelector("form[data-autosubmit]");
  if (form) { form.submit(); }
  var printButton = document.querySelector("[data-print]");
  if (printButton) { printButton.hidden = false; printButton.addEventListener("click", function () { window.print(); }); }
})();
