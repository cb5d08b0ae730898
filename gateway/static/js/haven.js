/* Haven: small progressive enhancements. Every page works without this file. */
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); }
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
