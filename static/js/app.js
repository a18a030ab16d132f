// OpsCRM page behaviour shared by every page; no framework, loaded once by base.html.
"use strict";

// GET filter forms send only the filters that are set, so links to a filtered list stay
// short and readable (e.g. /customers/?city=Shanghai rather than fifteen empty fields).
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || form.method.toLowerCase() !== "get") {
    return;
  }
  for (const field of form.querySelectorAll("input[name], select[name]")) {
    if (field.value === "") {
      field.disabled = true;
    }
  }
  // Re-enable after the navigation starts so the back button shows the form intact.
  setTimeout(() => {
    for (const field of form.querySelectorAll("[disabled]")) {
      field.disabled = false;
    }
  }, 0);
});

// Buttons and links with data-confirm ask before acting (e.g. destructive actions).
document.addEventListener("click", (event) => {
  const target = event.target.closest("[data-confirm]");
  if (target && !window.confirm(target.dataset.confirm)) {
    event.preventDefault();
  }
});
