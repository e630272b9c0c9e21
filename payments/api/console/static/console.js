// Progressive enhancement only: every page works without it.
(function () {
  // Ask before actions that move money or cannot be undone.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });

  // Split form: a running total against the payment, and more rows on demand.
  var toFen = function (text) {
    var m = /^\s*(\d{1,12})(?:\.(\d{1,2}))?\s*$/.exec(text || "");
    if (!m) { return null; }
    return parseInt(m[1], 10) * 100 + parseInt(((m[2] || "") + "00").slice(0, 2), 10);
  };
  var toYuan = function (fen) {
    var sign = fen < 0 ? "-" : "";
    fen = Math.abs(fen);
    return sign + Math.floor(fen / 100) + "." + ("0" + (fen % 100)).slice(-2);
  };
  document.querySelectorAll("form[data-split]").forEach(function (form) {
    var total = toFen(form.getAttribute("data-total"));
    var status = form.querySelector("[data-split-status]");
    var body = form.querySelector("tbody");
    var lang = document.documentElement.lang === "en" ? "en" : "zh";
    var update = function () {
      var sum = 0, bad = false;
      form.querySelectorAll("input[name=amount]").forEach(function (input) {
        if (!input.value.trim()) { return; }
        var fen = toFen(input.value);
        if (fen === null) { bad = true; } else { sum += fen; }
      });
      var left = total - sum;
      var text;
      if (bad) {
        text = lang === "en" ? "An amount is not valid (yuan, at most two decimals)." : "有金额格式不正确（元，最多两位小数）。";
      } else if (lang === "en") {
        text = "Assigned " + toYuan(sum) + " of " + toYuan(total) + " yuan; " + (left === 0 ? "all assigned." : (left > 0 ? toYuan(left) + " left." : toYuan(-left) + " too much."));
      } else {
        text = "已分配 " + toYuan(sum) + " / " + toYuan(total) + " 元，" + (left === 0 ? "已全部分配。" : (left > 0 ? "还剩 " + toYuan(left) + " 元。" : "超出 " + toYuan(-left) + " 元。"));
      }
      status.textContent = text;
      status.className = "hint " + (!bad && left === 0 ? "good" : "bad");
    };
    form.addEventListener("input", update);
    var add = form.querySelector("[data-add-row]");
    if (add && body) {
      add.hidden = false;
      add.addEventListener("click", function () {
        var row = body.rows[body.rows.length - 1].cloneNode(true);
        row.querySelectorAll("input").forEach(function (input) { input.value = ""; });
        body.appendChild(row);
        row.querySelector("input").focus();
      });
    }
    update();
  });
})();
