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

  // An htmx request that failed would otherwise change nothing on the page, silently: a 5xx
  // (the 503 leadcrm/middleware.py answers while the database is down), a 4xx the page does not
  // swap in itself, or no answer at all. Say so in the page's message area
  // (templates/partials/messages.html), once (a poll failing every second keeps one message),
  // with a button to dismiss it. It goes by itself when the same element's request (the user's
  // retry, or the poll's next tick) succeeds.
  // (Compared by the element that sent the request: a swap may have taken it out of the page,
  // and then htmx reports the end of its request from another element.)
  var failedElement = null;

  function sender(event) {
    return event.detail.requestConfig ? event.detail.requestConfig.elt : event.detail.elt;
  }

  function requestErrorText(status, retryAfter, verb) {
    // A GET only reads: say what the user sees (a part of the page not updated), not a lost change.
    var outcome = verb === "get" ? "this part of the page was not updated" : "what you just did may not have been saved";
    if (status === 502 || status === 503 || status === 504) {
      var wait = /^\d+$/.test(retryAfter || "") ? "in " + retryAfter + " seconds" : "in a few seconds";
      return "LeadCRM is briefly unavailable (error " + status + "): " + outcome + ". Try again " + wait + ".";
    }
    if (status >= 500) {
      return "Something went wrong on our side (error " + status + "): " + outcome + ". Try again; if it keeps happening, tell your administrator.";
    }
    if (status === 403) return "You are not allowed to do this (error 403).";
    if (status === 404) return "This is no longer here (error 404): reload the page to see what is.";
    return "This was refused (error " + status + "): reload the page and try again.";
  }

  function verbOf(event) {
    return event.detail.requestConfig ? event.detail.requestConfig.verb : "";
  }

  function showRequestError(text) {
    var area = document.getElementById("messages");
    if (!area) {
      area = document.createElement("div");
      area.className = "messages";
      area.id = "messages";
      var main = document.querySelector(".main-inner") || document.querySelector("main") || document.body;
      main.insertBefore(area, main.firstChild);
    }
    var current = document.getElementById("request-error");
    if (current && current.querySelector(".flash-text").textContent === text) return;
    if (current) current.remove();
    var flash = document.createElement("div");
    flash.id = "request-error";
    flash.className = "flash flash-error flash-dismissable";
    flash.setAttribute("role", "alert");
    flash.setAttribute("data-testid", "request-error");
    var message = document.createElement("span");
    message.className = "flash-text";
    message.textContent = text;
    var dismiss = document.createElement("button");
    dismiss.type = "button";
    dismiss.className = "flash-dismiss";
    dismiss.setAttribute("data-dismiss-flash", "");
    dismiss.setAttribute("aria-label", "Dismiss this message");
    dismiss.textContent = "\u00d7";
    flash.appendChild(message);
    flash.appendChild(dismiss);
    area.appendChild(flash);
  }

  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    failedElement = sender(event);
    showRequestError(requestErrorText(xhr.status, xhr.getResponseHeader("Retry-After"), verbOf(event)));
  });
  document.addEventListener("htmx:sendError", function (event) {
    failedElement = sender(event);
    var outcome = verbOf(event) === "get" ? "This part of the page was not updated" : "What you just did may not have been saved";
    showRequestError("LeadCRM could not be reached: check your connection. " + outcome + "; try again in a moment.");
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    if (!event.detail.successful || sender(event) !== failedElement) return;
    failedElement = null;
    var current = document.getElementById("request-error");
    if (current) current.remove();
  });
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-dismiss-flash]");
    if (!button) return;
    var flash = button.closest(".flash");
    if (flash) flash.remove();
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
