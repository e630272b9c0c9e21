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
  // Inside WeChat: hand the signed parameters to WeChat's pay sheet. Its answer is display only; the
  // receipt waits for the server, which the polling above asks.
  var wx = document.getElementById("wx-bridge");
  if (wx) {
    var payButton = document.querySelector("[data-wx-pay]");
    var hint = document.querySelector("[data-wx-hint]");
    var params = {
      appId: wx.getAttribute("data-app-id"),
      timeStamp: wx.getAttribute("data-time-stamp"),
      nonceStr: wx.getAttribute("data-nonce-str"),
      package: wx.getAttribute("data-package"),
      signType: wx.getAttribute("data-sign-type"),
      paySign: wx.getAttribute("data-pay-sign")
    };
    var say = function (key) { if (hint) { hint.textContent = wx.getAttribute(key); } };
    var invoke = function () {
      if (typeof window.WeixinJSBridge === "undefined") { say("data-msg-outside"); return; }
      window.WeixinJSBridge.invoke("getBrandWCPayRequest", params, function (res) {
        if (!res || res.err_msg !== "get_brand_wcpay_request:ok") { say("data-msg-cancelled"); }
      });
    };
    if (payButton) { payButton.hidden = false; payButton.addEventListener("click", invoke); }
    // Open the sheet by itself once per order and tab: coming back to this page must not reopen it.
    var first = true;
    try {
      var key = "payrecon.wxpay." + params.package;
      first = !window.sessionStorage.getItem(key);
      window.sessionStorage.setItem(key, "1");
    } catch (e) { first = true; }
    if (first) {
      if (typeof window.WeixinJSBridge === "undefined") {
        document.addEventListener("WeixinJSBridgeReady", invoke, false);
      } else {
        invoke();
      }
    }
  }
  var form = document.querySelector("form[data-autosubmit]");
  if (form) { form.submit(); }
  var printButton = document.querySelector("[data-print]");
  if (printButton) { printButton.hidden = false; printButton.addEventListener("click", function () { window.print(); }); }
})();
