// Campaign wizard: "Add another coupon" clones the formset's empty row (Django formset
// prefix "resources") and keeps TOTAL_FORMS in step, so the server sees every row.
"use strict";

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-add-resource]");
  if (!button) {
    return;
  }
  event.preventDefault();
  const total = document.getElementById("id_resources-TOTAL_FORMS");
  const template = document.getElementById("resource-empty-row");
  const rows = document.getElementById("resource-rows");
  const index = Number(total.value);
  const html = template.innerHTML.replace(/__prefix__/g, String(index));
  rows.insertAdjacentHTML("beforeend", html);
  total.value = String(index + 1);
});
