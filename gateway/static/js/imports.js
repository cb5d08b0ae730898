/* Admin > Imports: refuse a too-big file before sending it; keep a run's progress bar moving.
   Both pages work without this file (the server refuses big files; the run page has a
   Refresh link). */
(function () {
  "use strict";

  var POLL_MS = 1000;
  var MAX_FAILURES = 5;

  function ready(fn) {
    if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); }
  }

  function setText(root, selector, text) {
    var el = root.querySelector(selector);
    if (el) { el.textContent = text; }
  }

  function guardUploadSize(form) {
    var max = parseInt(form.getAttribute("data-max-bytes"), 10);
    var input = form.querySelector("input[type=file]");
    var message = form.querySelector(".upload-too-big");
    if (!max || !input || !message) { return; }
    function tooBig() {
      var file = input.files && input.files[0];
      return file && file.size > max ? file : null;
    }
    function check() {
      var file = tooBig();
      message.hidden = !file;
      message.textContent = file ? "“" + file.name + "” is too large: Haven accepts files of up to " +
        form.getAttribute("data-max-label") + "." : "";
      return !file;
    }
    input.addEventListener("change", check);
    form.addEventListener("submit", function (event) {
      if (!check()) {
        event.preventDefault();
        event.stopImmediatePropagation();
      }
    }, true);
  }

  function followProgress(box) {
    var url = box.getAttribute("data-progress-url");
    var bar = box.querySelector("progress");
    var failures = 0;
    var page = document.querySelector(".import-run") || document;

    function show(p) {
      if (p.percent === null || p.percent === undefined) {
        bar.removeAttribute("value");
      } else {
        bar.value = p.percent;
        bar.textContent = p.percent + "%";
      }
      var count = box.querySelector(".js-count");
      if (count) { count.hidden = !p.total; }
      setText(box, ".js-processed", String(p.processed));
      setText(box, ".js-total", String(p.total));
      setText(box, ".js-percent", String(p.percent === null || p.percent === undefined ? 0 : p.percent));
      setText(box, ".js-phase", p.phase_label || "");
      var status = page.querySelector(".js-status .run-status");
      if (status) {
        status.textContent = p.status_label;
        status.className = "run-status run-" + p.status;
      }
    }

    function poll() {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" }, cache: "no-store" })
        .then(function (response) {
          var type = response.headers.get("Content-Type") || "";
          if (!response.ok || type.indexOf("application/json") === -1) { throw new Error("HTTP " + response.status); }
          return response.json();
        })
        .then(function (p) {
          failures = 0;
          show(p);
          if (p.finished) {
            box.setAttribute("data-active", "false");
            // The finished run's counts, warnings and rejections come with the page.
            window.setTimeout(function () { window.location.reload(); }, 300);
          } else {
            window.setTimeout(poll, POLL_MS);
          }
        })
        .catch(function () {
          failures += 1;
          if (failures < MAX_FAILURES) { window.setTimeout(poll, POLL_MS * (failures + 1)); }
        });
    }

    window.setTimeout(poll, POLL_MS);
  }

  ready(function () {
    document.querySelectorAll("form.upload-form[data-max-bytes]").forEach(guardUploadSize);
    document.querySelectorAll(".run-progress[data-active=true][data-progress-url]").forEach(followProgress);
  });
})();
