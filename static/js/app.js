// LeadCRM: the little behaviour pages share. No framework: event delegation survives htmx swaps.
(function () {
  "use strict";

  // The Content-Security-Policy allows no inline <style> and no eval: htmx's indicator rules are
  // in app.css instead of the <style> it would inject, and no hx-* attribute may evaluate code.
  // This script runs (deferred, after htmx) before DOMContentLoaded, when htmx reads its config.
  if (window.htmx) {
    window.htmx.config.includeIndicatorStyles = false;
    window.htmx.config.allowEval = false;
  }

  // Show / hide a password: <button data-toggle-password="field-id">.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-toggle-password]");
    if (!button) return;
    var input = document.getElementById(button.getAttribute("data-toggle-password"));
    if (!input) return;
    var show = input.type === "password";
    input.type = show ? "text" : "password";
    button.textContent = show ? "Hide" : "Show";
    button.setAttribute("aria-pressed", show ? "true" : "false");
    button.setAttribute("aria-label", show ? "Hide password" : "Show password");
  });

  // "/" focuses the search box of the top bar, unless one is typing somewhere already.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    if (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName)) return;
    var search = document.getElementById("topbar-q");
    if (!search) return;
    event.preventDefault();
    search.focus();
    search.select();
  });

  // A menu (<details class="menu">) closes on Escape and when clicking elsewhere.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.removeAttribute("open");
    });
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      menu.removeAttribute("open");
      var summary = menu.querySelector("summary");
      if (summary) summary.focus();
    });
  });
})();
