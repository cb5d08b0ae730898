/* Haven: small progressive enhancements. Every page works without this file. */
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); }
  }

  // Blank screen: the header button hides everything at once; after the school's idle
  // timeout without a key press, click, scroll or touch it happens by itself, and the
  // page's content is dropped, so coming back reloads it (the server then decides whether
  // the session still lives, or asks for a login).
  function blankScreen() {
    var body = document.body;
    var overlay = document.getElementById("blank-screen");
    var minutes = parseInt(body.getAttribute("data-idle-minutes") || "0", 10);
    if (!overlay || !(minutes > 0)) { return; }
    var parts = document.querySelectorAll("body > header, body > main, body > footer, .skip-link");
    var timer = null;
    var idle = false;

    function blank(reason) {
      idle = reason === "idle";
      parts.forEach(function (el) { el.hidden = true; el.setAttribute("inert", ""); });
      if (idle) {
        var main = document.getElementById("main");
        if (main) { main.textContent = ""; }
      }
      overlay.querySelectorAll("[data-blank-reason]").forEach(function (p) {
        p.hidden = p.getAttribute("data-blank-reason") !== reason;
      });
      overlay.hidden = false;
      body.classList.add("blanked");
      window.clearTimeout(timer);
      var back = overlay.querySelector("[data-blank-return]");
      if (back) { back.focus(); }
    }

    function unblank() {
      if (idle) { window.location.reload(); return; }
      overlay.hidden = true;
      body.classList.remove("blanked");
      parts.forEach(function (el) { el.hidden = false; el.removeAttribute("inert"); });
      restart();
    }

    function restart() {
      if (body.classList.contains("blanked")) { return; }
      window.clearTimeout(timer);
      timer = window.setTimeout(function () { blank("idle"); }, minutes * 60 * 1000);
    }

    ["keydown", "mousedown", "wheel", "touchstart", "scroll"].forEach(function (name) {
      window.addEventListener(name, restart, { passive: true });
    });
    document.querySelectorAll("[data-blank-screen]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () { blank("manual"); });
    });
    overlay.querySelector("[data-blank-return]").addEventListener("click", unblank);
    restart();
  }

  ready(function () {
    // A form with a [data-once] button is sent once: the button is disabled after submitting.
    document.querySelectorAll("form").forEach(function (form) {
      form.addEventListener("submit", function () {
        form.querySelectorAll("button[data-once]").forEach(function (button) {
          window.setTimeout(function () { button.disabled = true; }, 0);
        });
      });
    });

    // Filter a long <select multiple> (staff to alert) by typing part of a name.
    document.querySelectorAll("input[data-filter-for]").forEach(function (input) {
      var select = document.getElementById(input.getAttribute("data-filter-for"));
      if (!select) { return; }
      input.hidden = false;
      input.addEventListener("input", function () {
        var wanted = input.value.trim().toLowerCase();
        Array.prototype.forEach.call(select.options, function (option) {
          var match = !wanted || option.text.toLowerCase().indexOf(wanted) !== -1;
          option.hidden = !match && !option.selected;
        });
      });
    });

    blankScreen();

    // Bring the highlighted incident into view (the link's #fragment does it without JS).
    var highlighted = document.querySelector(".incident.highlight");
    if (highlighted && !window.location.hash) {
      highlighted.scrollIntoView({ block: "center" });
    }
    if (highlighted) {
      highlighted.focus({ preventScroll: true });
    }
  });
})();
