// The sales queue from the keyboard (UX.md screen 5): j/k move between rows, c claims the row,
// Enter opens the lead, ? shows the keys. Event delegation: it keeps working after htmx swaps.
(function () {
  "use strict";

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-testid=queue-row]"));
  }

  function typing(target) {
    return target.closest("input, textarea, select, [contenteditable=true]") !== null;
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    var list = rows();
    var current = event.target.closest ? event.target.closest("[data-testid=queue-row]") : null;
    var index = current ? list.indexOf(current) : -1;
    if (event.key === "j" || event.key === "k") {
      if (!list.length) return;
      var next = event.key === "j" ? Math.min(index + 1, list.length - 1) : Math.max(index - 1, 0);
      list[next].focus();
      event.preventDefault();
    } else if (event.key === "c" && current) {
      var claim = current.querySelector("[data-testid=claim]");
      if (claim) claim.click();
      event.preventDefault();
    } else if (event.key === "Enter" && current && event.target === current) {
      var link = current.querySelector("a.cell-main");
      if (link) window.location.href = link.href;
    } else if (event.key === "?") {
      var help = document.getElementById("queue-keys");
      if (help && !help.open) help.showModal();
      event.preventDefault();
    }
  });

  // After a claim the row is replaced: keep the keyboard where it was.
  document.body.addEventListener("htmx:afterSwap", function (event) {
    var row = event.detail.target;
    if (row && row.matches && row.matches("tr")) {
      var action = document.querySelector("#" + row.id + " a");
      if (action) action.focus();
    }
  });
})();

// A button with data-dialog="<id>" opens that <dialog> (the lead page's "Close as customer"
// confirmation): no inline handlers, so the Content-Security-Policy can forbid them.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var opener = event.target.closest ? event.target.closest("[data-dialog]") : null;
    if (!opener) return;
    var dialog = document.getElementById(opener.getAttribute("data-dialog"));
    if (dialog && !dialog.open) {
      dialog.showModal();
      event.preventDefault();
    }
  });
})();
