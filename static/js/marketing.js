// LeadCRM marketing pages: the little behaviour they need. Event delegation survives htmx swaps.
(function () {
  "use strict";

  // The bulk bar says how many rows are checked: <span class="bulkbar-count"> in a form.bulk-form.
  function updateCount(form) {
    if (!form) return;
    var count = form.querySelectorAll('tbody input[name="lead"]:checked').length;
    form.querySelectorAll(".bulkbar-count").forEach(function (el) {
      el.textContent = String(count);
    });
  }

  // A header checkbox selects every row of its table: <input type="checkbox" data-select-all>.
  document.addEventListener("change", function (event) {
    updateCount(event.target.closest("form.bulk-form"));
  });
  document.addEventListener("change", function (event) {
    var all = event.target.closest("[data-select-all]");
    if (all) {
      var table = all.closest("table");
      table.querySelectorAll('tbody input[type="checkbox"]').forEach(function (box) {
        box.checked = all.checked;
      });
      updateCount(all.closest("form.bulk-form"));
      return;
    }
    var box = event.target.closest('tbody input[type="checkbox"]');
    if (box) {
      var header = box.closest("table").querySelector("[data-select-all]");
      if (header && !box.checked) header.checked = false;
    }
  });
})();

// Copy buttons: <button data-copy="element-id"> copies that element's text (the web form snippet).
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) return;
    var text = source.textContent;
    function done(label) {
      var original = button.getAttribute("data-label") || button.textContent;
      button.setAttribute("data-label", original);
      button.textContent = label;
      setTimeout(function () { button.textContent = original; }, 2000);
    }
    function fallback() {
      // No clipboard API (plain http): select the text so Ctrl+C / Cmd+C copies it.
      var range = document.createRange();
      range.selectNodeContents(source);
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      done("Selected: press Ctrl+C");
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { done("Copied"); }, fallback);
    } else {
      fallback();
    }
  });
})();
