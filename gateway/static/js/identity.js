/* Haven: security keys (WebAuthn), password strength hints, confirmations. No inline script:
   the CSP allows only same-origin files like this one. */
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); }
  }

  // ---- base64url <-> ArrayBuffer (for browsers without the WebAuthn JSON helpers) ----------
  function fromB64url(value) {
    var s = String(value).replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) { s += "="; }
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out.buffer;
  }
  function toB64url(buffer) {
    var bytes = new Uint8Array(buffer), s = "";
    for (var i = 0; i < bytes.length; i++) { s += String.fromCharCode(bytes[i]); }
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function creationOptions(json) {
    if (window.PublicKeyCredential && PublicKeyCredential.parseCreationOptionsFromJSON) {
      return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    }
    var o = Object.assign({}, json);
    o.challenge = fromB64url(json.challenge);
    o.user = Object.assign({}, json.user, { id: fromB64url(json.user.id) });
    o.excludeCredentials = (json.excludeCredentials || []).map(function (c) {
      return Object.assign({}, c, { id: fromB64url(c.id) });
    });
    return o;
  }
  function requestOptions(json) {
    if (window.PublicKeyCredential && PublicKeyCredential.parseRequestOptionsFromJSON) {
      return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    }
    var o = Object.assign({}, json);
    o.challenge = fromB64url(json.challenge);
    o.allowCredentials = (json.allowCredentials || []).map(function (c) {
      return Object.assign({}, c, { id: fromB64url(c.id) });
    });
    return o;
  }
  function credentialJSON(cred) {
    if (typeof cred.toJSON === "function") { return cred.toJSON(); }
    var r = cred.response, response = { clientDataJSON: toB64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toB64url(r.attestationObject);
      response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      response.authenticatorData = toB64url(r.authenticatorData);
      response.signature = toB64url(r.signature);
      response.userHandle = r.userHandle ? toB64url(r.userHandle) : null;
    }
    return { id: cred.id, rawId: toB64url(cred.rawId), type: cred.type, response: response,
             authenticatorAttachment: cred.authenticatorAttachment || null,
             clientExtensionResults: cred.getClientExtensionResults() };
  }

  function postJSON(url, csrf, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, "Accept": "application/json" },
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (response.status === 401) { window.location.assign("/login"); }
        if (!response.ok) {
          var message = (data && data.error && data.error.message) || "That did not work. Please try again.";
          throw new Error(message);
        }
        return data;
      });
    });
  }

  function explain(error) {
    if (error && (error.name === "NotAllowedError" || error.name === "AbortError")) {
      return "The security key did not answer, or you cancelled. Try again.";
    }
    if (error && error.name === "InvalidStateError") {
      return "That security key is already registered to your account.";
    }
    return (error && error.message) || "That did not work. Please try again.";
  }

  function showError(box, message) {
    if (!box) { return; }
    box.textContent = message;
    box.hidden = false;
  }

  function supported() {
    return !!(window.PublicKeyCredential && navigator.credentials);
  }

  ready(function () {
    // Forms that ask before doing something that cannot be undone.
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
      });
    });

    // Account Settings > Security Keys: register a security key or passkey.
    document.querySelectorAll("form[data-webauthn=register]").forEach(function (form) {
      var box = form.querySelector("[data-webauthn-error]");
      var button = form.querySelector("button[type=submit]");
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        if (!supported()) { showError(box, "This browser cannot use security keys."); return; }
        var csrf = form.querySelector("input[name=csrf_token]").value;
        var name = form.querySelector("input[name=name]").value;
        button.disabled = true;
        if (box) { box.hidden = true; }
        postJSON(form.getAttribute("action"), csrf, { name: name }).then(function (begun) {
          return navigator.credentials.create({ publicKey: creationOptions(begun.options.publicKey) })
            .then(function (cred) {
              return postJSON(form.getAttribute("data-finish"), csrf,
                              { challenge_id: begun.challenge_id, credential: credentialJSON(cred) });
            });
        }).then(function (done) {
          window.location.assign(done.redirect);
        }).catch(function (error) {
          showError(box, explain(error));
          button.disabled = false;
        });
      });
    });

    // Elevate your access with a security key or passkey.
    document.querySelectorAll("[data-webauthn=elevate]").forEach(function (panel) {
      var box = panel.querySelector("[data-webauthn-error]");
      var button = panel.querySelector("[data-webauthn-start]");
      button.addEventListener("click", function () {
        if (!supported()) { showError(box, "This browser cannot use security keys. Use your authenticator app."); return; }
        var csrf = panel.getAttribute("data-csrf");
        button.disabled = true;
        if (box) { box.hidden = true; }
        postJSON(panel.getAttribute("data-begin"), csrf, {}).then(function (begun) {
          return navigator.credentials.get({ publicKey: requestOptions(begun.options.publicKey) })
            .then(function (cred) {
              return postJSON(panel.getAttribute("data-finish"), csrf, {
                challenge_id: begun.challenge_id, credential: credentialJSON(cred),
                next: panel.getAttribute("data-next") });
            });
        }).then(function (done) {
          window.location.assign(done.redirect);
        }).catch(function (error) {
          showError(box, explain(error));
          button.disabled = false;
        });
      });
    });

    // Choose a password: identity's reasons, as the user types.
    document.querySelectorAll("form[data-strength-url]").forEach(function (form) {
      var input = form.querySelector("input[data-strength]");
      var out = document.getElementById(input.getAttribute("aria-describedby").split(" ")[0]);
      var csrf = form.querySelector("input[name=csrf_token]").value;
      var timer = null, asked = 0;
      input.addEventListener("input", function () {
        window.clearTimeout(timer);
        timer = window.setTimeout(function () {
          var mine = ++asked, value = input.value;
          if (!value) { out.textContent = ""; out.className = "strength"; return; }
          postJSON(form.getAttribute("data-strength-url"), csrf, { password: value }).then(function (r) {
            if (mine !== asked) { return; }
            out.className = "strength " + (r.ok ? "strength-ok" : "strength-weak");
            out.textContent = r.ok ? "Strong enough." : r.problems.join(" ");
          }).catch(function () { out.textContent = ""; });
        }, 350);
      });
    });
  });
})();
