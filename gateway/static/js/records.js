/* Haven records pages: small enhancements. Every page works without this file. */
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); }
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text) { node.textContent = text; }
    return node;
  }

  // Sub-categories appear once their parent is ticked (or when one of them already is).
  function subCategories() {
    document.querySelectorAll("input[data-reveals]").forEach(function (parent) {
      var list = document.getElementById(parent.getAttribute("data-reveals"));
      if (!list) { return; }
      function update() {
        var anyChild = list.querySelector("input:checked") !== null;
        list.hidden = !(parent.checked || anyChild);
      }
      parent.addEventListener("change", update);
      update();
    });
  }

  // The incident and action forms: who would be alerted, and who could not normally view it.
  function alertCheck() {
    document.querySelectorAll("form[data-alert-check]").forEach(function (form) {
      var output = form.querySelector("[data-alert-check-output]");
      if (!output) { return; }
      form.querySelectorAll("[data-no-js-only]").forEach(function (b) { b.hidden = true; });
      var timer = null;
      var serial = 0;
      function values(name, selectedOnly) {
        var out = [];
        form.querySelectorAll("[name='" + name + "']").forEach(function (input) {
          if (input.tagName === "SELECT") {
            Array.prototype.forEach.call(input.selectedOptions, function (o) { out.push(o.value); });
          } else if (!selectedOnly || input.checked) {
            out.push(input.value);
          }
        });
        return out;
      }
      function render(recipients) {
        output.textContent = "";
        if (!recipients.length) { return; }
        var hint = el("p", "hint", "Colleagues in red would not normally be able to view this.");
        var list = el("ul", "plain recipients");
        list.setAttribute("aria-label", "Who will be alerted");
        recipients.forEach(function (r) {
          var text = (r.name || "A colleague") + (r.can_view ? "" : " — could not normally view it") +
            (r.active ? "" : " (deactivated)");
          list.appendChild(el("li", r.can_view ? "can-view" : "cannot-view", text));
        });
        output.appendChild(hint);
        output.appendChild(list);
      }
      function check() {
        var params = new URLSearchParams();
        if (form.getAttribute("data-student")) { params.set("student", form.getAttribute("data-student")); }
        if (form.getAttribute("data-incident")) { params.set("incident", form.getAttribute("data-incident")); }
        values("category_ids", true).forEach(function (v) { params.append("category_ids", v); });
        values("alert_account_ids", true).forEach(function (v) { params.append("account_ids", v); });
        values("alert_group_ids", true).forEach(function (v) { params.append("alert_group_ids", v); });
        var recipients = form.querySelector("[name='incident_recipients']");
        if (recipients && recipients.checked) { params.set("incident_recipients", "1"); }
        var mine = ++serial;
        fetch(form.getAttribute("data-alert-check") + "?" + params.toString(), {
          credentials: "same-origin", headers: { "Accept": "application/json" }
        }).then(function (r) { return r.ok ? r.json() : { recipients: [] }; })
          .then(function (body) { if (mine === serial) { render(body.recipients || []); } })
          .catch(function () { /* the server checks again when the form is sent */ });
      }
      form.addEventListener("change", function (event) {
        var name = event.target.getAttribute("name");
        if (["category_ids", "alert_account_ids", "alert_group_ids", "incident_recipients"].indexOf(name) === -1) { return; }
        window.clearTimeout(timer);
        timer = window.setTimeout(check, 250);
      });
      if (values("alert_account_ids", true).length || values("alert_group_ids", true).length) { check(); }
    });
  }

  // "Tick all" boxes, and the names that go with ticked students (bulk Update Categories).
  function tickAll() {
    document.querySelectorAll("input[data-check-all]").forEach(function (all) {
      var name = all.getAttribute("data-check-all");
      all.addEventListener("change", function () {
        document.querySelectorAll("input[type=checkbox][name='" + name + "']").forEach(function (box) {
          if (!box.closest("[hidden]")) {
            box.checked = all.checked;
            box.dispatchEvent(new Event("change", { bubbles: true }));
          }
        });
      });
    });
    document.querySelectorAll("input[data-name-for]").forEach(function (hidden) {
      var box = document.getElementById(hidden.getAttribute("data-name-for"));
      if (!box) { return; }
      function update() { hidden.disabled = !box.checked; }
      box.addEventListener("change", update);
      update();
    });
  }

  // Filter a list of checkboxes by typing part of a name.
  function filterChecks() {
    document.querySelectorAll("input[data-filter-checks]").forEach(function (input) {
      var box = document.getElementById(input.getAttribute("data-filter-checks"));
      if (!box) { return; }
      input.hidden = false;
      input.addEventListener("input", function () {
        var wanted = input.value.trim().toLowerCase();
        box.querySelectorAll("[data-filter-text]").forEach(function (label) {
          var text = label.getAttribute("data-filter-text").toLowerCase();
          label.hidden = wanted !== "" && text.indexOf(wanted) === -1;
        });
      });
    });
  }

  function copyColour() {
    document.querySelectorAll("select[data-copy-colour]").forEach(function (select) {
      var target = document.getElementById(select.getAttribute("data-copy-colour"));
      select.addEventListener("change", function () {
        if (target && select.value) { target.value = select.value; }
      });
    });
  }

  function printButtons() {
    document.querySelectorAll("[data-print]").forEach(function (button) {
      button.addEventListener("click", function () { window.print(); });
    });
  }

  // Close an open "Options" menu when another opens or on a click elsewhere.
  function optionMenus() {
    var menus = document.querySelectorAll("details.options");
    menus.forEach(function (menu) {
      menu.addEventListener("toggle", function () {
        if (!menu.open) { return; }
        menus.forEach(function (other) { if (other !== menu) { other.open = false; } });
      });
    });
    document.addEventListener("click", function (event) {
      menus.forEach(function (menu) { if (menu.open && !menu.contains(event.target)) { menu.open = false; } });
    });
  }

  // Bring a highlighted action into view.
  function highlightAction() {
    var action = document.querySelector(".action.highlight");
    if (action && !window.location.hash) { action.scrollIntoView({ block: "center" }); }
  }

  ready(function () {
    subCategories();
    alertCheck();
    tickAll();
    filterChecks();
    copyColour();
    printButtons();
    optionMenus();
    highlightAction();
  });
})();
