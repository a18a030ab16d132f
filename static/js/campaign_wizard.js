// Campaign pages (the wizard and the coupon template form).
//
// "Add another coupon" clones the formset's empty row (Django formset prefix "resources")
// and keeps TOTAL_FORMS in step, so the server sees every row.
//
// Pick lists: a code field (categories, SKUs, stores, cities) is one text input holding the
// values comma-separated, which is what the server reads; without JavaScript it stays that.
// Here it becomes the chosen values as chips plus a search box suggesting the values the
// data holds (GET <data-pick-list>&search=…, JSON {"values": [...]}, most frequent first),
// so a marketer picks the code the orders carry (dried_fruit) instead of typing a label
// (Dried fruit) that matches no order. A value the data does not hold can still be added (a
// new gift-box SKU): its chip is marked, and saving warns about it.
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

// Wait this long after the last key before asking the server (one request per pause).
const SEARCH_DELAY_MS = 200;

function splitValues(text) {
  return text
    .split(",")
    .map((value) => value.trim())
    .filter((value) => value !== "");
}

async function valuesInData(url, search) {
  const response = await fetch(`${url}&search=${encodeURIComponent(search)}`, {
    headers: { Accept: "application/json" },
  });
  if (!response.ok) {
    return [];
  }
  return (await response.json()).values;
}

function setUpPickList(input) {
  const url = input.dataset.pickList;
  const chosen = splitValues(input.value);
  // Chosen values the data does not hold (marked on their chip).
  const unknown = new Set();
  let suggested = [];
  let timer = null;

  const wrapper = document.createElement("span");
  wrapper.className = "pick-list";
  const chips = document.createElement("span");
  chips.className = "pick-list-chosen";
  const search = document.createElement("input");
  search.type = "search";
  search.autocomplete = "off";
  search.placeholder = "Search the values in the data";
  const options = document.createElement("datalist");
  // The label's `for` names the search box: it is where the person types.
  search.id = input.id;
  input.id = `${search.id}-value`;
  options.id = `${search.id}-values`;
  search.setAttribute("list", options.id);
  search.disabled = input.disabled;
  input.type = "hidden";
  input.parentNode.insertBefore(wrapper, input);
  wrapper.append(chips, search, options, input);

  const isSuggested = (value) =>
    suggested.some((known) => known.toLowerCase() === value.toLowerCase());

  function render() {
    input.value = chosen.join(", ");
    chips.replaceChildren(
      ...chosen.map((value) => {
        const chip = document.createElement("span");
        chip.className = "pick-list-chip";
        chip.dataset.value = value;
        chip.append(value);
        if (unknown.has(value)) {
          chip.classList.add("pick-list-new");
          chip.title = "No order holds this value yet: the coupon fits no order until one does.";
        }
        if (!input.disabled) {
          const remove = document.createElement("button");
          remove.type = "button";
          remove.textContent = "×";
          remove.setAttribute("aria-label", `Remove ${value}`);
          remove.addEventListener("click", (event) => {
            event.preventDefault();
            chosen.splice(chosen.indexOf(value), 1);
            unknown.delete(value);
            render();
          });
          chip.append(remove);
        }
        return chip;
      }),
    );
  }

  function showSuggestions(values) {
    suggested = values;
    options.replaceChildren(
      ...values
        .filter((value) => !chosen.includes(value))
        .map((value) => {
          const option = document.createElement("option");
          option.value = value;
          return option;
        }),
    );
  }

  async function markIfNew(value) {
    // Known if the data holds it in any case (redemptions compare case-insensitively).
    if (isSuggested(value)) {
      return;
    }
    const found = await valuesInData(url, value);
    if (found.some((known) => known.toLowerCase() === value.toLowerCase())) {
      return;
    }
    if (chosen.includes(value)) {
      unknown.add(value);
      render();
    }
  }

  function commit() {
    const added = splitValues(search.value).filter((value) => !chosen.includes(value));
    search.value = "";
    if (added.length === 0) {
      return;
    }
    chosen.push(...added);
    render();
    added.forEach(markIfNew);
  }

  search.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === ",") {
      event.preventDefault();
      commit();
    } else if (event.key === "Backspace" && search.value === "" && chosen.length > 0) {
      unknown.delete(chosen.pop());
      render();
    }
  });
  search.addEventListener("input", (event) => {
    // A suggestion picked from the list arrives whole, not typed.
    if (event.inputType === "insertReplacementText" || event.inputType === undefined) {
      if (suggested.includes(search.value)) {
        commit();
        return;
      }
    }
    clearTimeout(timer);
    timer = setTimeout(async () => {
      showSuggestions(await valuesInData(url, search.value.trim()));
    }, SEARCH_DELAY_MS);
  });
  // Leaving the box, or saving, keeps what was typed: nothing typed is silently dropped.
  search.addEventListener("change", commit);
  search.form?.addEventListener("submit", commit);

  render();
  // One request for the most frequent values; only the chosen values beyond them are
  // looked up one by one to be marked.
  valuesInData(url, "").then((values) => {
    showSuggestions(values);
    chosen.forEach(markIfNew);
  });
}

document.querySelectorAll("input[data-pick-list]").forEach(setUpPickList);
