// Segment builder: nested "all of" / "any of" groups and NOT over the field catalogue,
// each condition's inputs fitted to its field, and a live count from the preview API.
//
// The tree lives in `root` (plain objects); every edit writes its SPEC §2 JSON into the
// form's hidden `rules` input, so saving is an ordinary form post. Counting is debounced
// (DEBOUNCE_MS after the last edit); starting a new count aborts the previous request in
// the browser, and the server cancels the previous query of this builder session on the
// database (segments.services.preview). A refusal of the catalogue comes back with
// the node's path ("all[1].any[0]") and is shown at that node.
"use strict";

(() => {
  const configElement = document.getElementById("builder-config");
  const mount = document.getElementById("rule-builder");
  const rulesInput = document.getElementById("id_rules");
  if (!configElement || !mount || !rulesInput) {
    return;
  }
  const config = JSON.parse(configElement.textContent);
  const fields = new Map(config.fields.map((spec) => [spec.name, spec]));
  const DEBOUNCE_MS = 400;
  // Typing in a code's input asks the server for the codes containing the text (the list
  // first holds only the most frequent ones).
  const SEARCH_DEBOUNCE_MS = 250;
  const LIST_OPS = new Set(["in", "not_in"]);
  const MONTHS = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
  ];
  const SCOPE_KEYS = [
    ["category", "Category"],
    ["sku", "SKU"],
    ["store", "Store"],
    ["channel", "Channel"],
  ];
  const form = rulesInput.form;
  const csrfToken = form.querySelector("[name=csrfmiddlewaretoken]").value;
  const output = {
    count: document.getElementById("preview-count"),
    share: document.getElementById("preview-share"),
    status: document.getElementById("preview-status"),
    sentence: document.getElementById("preview-sentence"),
    sample: document.getElementById("preview-sample"),
    rulesError: document.getElementById("rules-error"),
  };
  const session = sessionToken();
  const valueLists = new Map();
  let root = null;
  let pathToNode = new Map();
  let debounceTimer = null;
  let inFlight = null;
  let previewNumber = 0;

  // Tree <-> SPEC §2 JSON ------------------------------------------------------------------

  function newGroup(match) {
    return { type: "group", match: match || "all", negated: false, children: [] };
  }

  function newCondition() {
    return {
      type: "condition", negated: false, field: "", op: "", value: null,
      window: { mode: "any", lastDays: "", from: "", to: "" }, kind: "", scope: {},
    };
  }

  function fromJSON(data) {
    if (data && typeof data === "object" && !Array.isArray(data)) {
      if (Object.hasOwn(data, "not")) {
        const node = fromJSON(data.not);
        node.negated = !node.negated;
        return node;
      }
      for (const match of ["all", "any"]) {
        if (Object.hasOwn(data, match)) {
          const group = newGroup(match);
          group.children = (Array.isArray(data[match]) ? data[match] : []).map(fromJSON);
          return group;
        }
      }
      if (Object.hasOwn(data, "field")) {
        const condition = newCondition();
        condition.field = fields.has(data.field) ? data.field : "";
        condition.op = data.op || "";
        condition.value = data.value === undefined ? null : data.value;
        const span = data.window;
        if (span && span.last_days) {
          condition.window = { mode: "last", lastDays: String(span.last_days), from: "", to: "" };
        } else if (span && (span.from || span.to)) {
          condition.window = { mode: "dates", lastDays: "", from: span.from || "", to: span.to || "" };
        }
        condition.kind = data.kind || "";
        for (const [key] of SCOPE_KEYS) {
          if (data[key]) {
            condition.scope[key] = data[key];
          }
        }
        return condition;
      }
    }
    return newCondition();
  }

  // The JSON of `node` at `path`; remembers which node each path names, for errors.
  function toJSON(node, path) {
    pathToNode.set(path, node);
    if (node.negated) {
      const inner = child(path, "not");
      pathToNode.set(inner, node);
      return { not: plainJSON(node, inner) };
    }
    return plainJSON(node, path);
  }

  function plainJSON(node, path) {
    if (node.type === "group") {
      return {
        [node.match]: node.children.map((item, index) => toJSON(item, child(path, `${node.match}[${index}]`))),
      };
    }
    const spec = fields.get(node.field);
    const data = { field: node.field, op: node.op, value: jsonValue(node, spec) };
    if (spec && spec.takes_window) {
      if (node.window.mode === "last") {
        data.window = { last_days: toInteger(node.window.lastDays) };
      } else if (node.window.mode === "dates") {
        data.window = { from: node.window.from || null, to: node.window.to || null };
      }
    }
    if (spec && spec.takes_kind && node.kind) {
      data.kind = node.kind;
    }
    if (spec && spec.takes_purchase_scope) {
      for (const [key] of SCOPE_KEYS) {
        if (node.scope[key]) {
          data[key] = node.scope[key];
        }
      }
    }
    return data;
  }

  function child(path, step) {
    return path ? `${path}.${step}` : step;
  }

  function jsonValue(node, spec) {
    const value = node.value;
    if (!spec || node.op === "is_null" || node.op === "within_last_days") {
      return node.op === "within_last_days" ? toInteger(value) : value;
    }
    const one = (item) => typedValue(spec, item);
    if (LIST_OPS.has(node.op) || node.op === "between") {
      return Array.isArray(value) ? value.map(one) : [];
    }
    return one(value);
  }

  function typedValue(spec, value) {
    if (spec.value_type === "integer" || spec.value_type === "segment") {
      return toInteger(value);
    }
    return value;
  }

  function toInteger(value) {
    const text = String(value ?? "").trim();
    return /^-?\d+$/.test(text) ? Number.parseInt(text, 10) : text;
  }

  // What a condition needs before it can be counted (the server checks the rest).
  function incomplete(node) {
    if (node.type === "group") {
      return node.children.length ? "" : "Add a condition to this group, or remove it.";
    }
    const spec = fields.get(node.field);
    if (!spec) {
      return "Choose a field.";
    }
    const value = node.value;
    const blank = (item) => item === null || item === undefined || String(item).trim() === "";
    if (LIST_OPS.has(node.op) && (!Array.isArray(value) || value.length === 0)) {
      return "Choose at least one value.";
    }
    if (node.op === "between" && (!Array.isArray(value) || value.length !== 2 || value.some(blank))) {
      return "Enter both ends of the range.";
    }
    if (blank(value)) {
      return "Enter a value.";
    }
    if (spec.takes_window && node.window.mode === "last" && blank(node.window.lastDays)) {
      return "Enter the number of days of the window.";
    }
    if (spec.takes_window && node.window.mode === "dates" && !node.window.from && !node.window.to) {
      return "Enter a first or a last date for the window.";
    }
    return "";
  }

  // Rendering ------------------------------------------------------------------------------

  function el(tag, attributes, ...children) {
    const element = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === false || value === null || value === undefined) {
        continue;
      }
      if (name.startsWith("on")) {
        element.addEventListener(name.slice(2), value);
      } else if (name === "text") {
        element.textContent = value;
      } else if (value === true) {
        element.setAttribute(name, "");
      } else {
        element.setAttribute(name, value);
      }
    }
    for (const item of children.flat()) {
      if (item !== null && item !== undefined && item !== false) {
        element.append(typeof item === "string" ? document.createTextNode(item) : item);
      }
    }
    return element;
  }

  function option(value, label, selected) {
    return el("option", { value, selected: selected ? true : null, text: label });
  }

  function render() {
    mount.replaceChildren(renderNode(root, null, 0));
    changed();
  }

  function renderNode(node, parent, index) {
    return node.type === "group" ? renderGroup(node, parent, index) : renderCondition(node, parent, index);
  }

  function nodeTools(node, parent, index) {
    const tools = el("div", { class: "node-tools" },
      el("label", { class: "not-toggle", title: "Turn this around: customers who do NOT match it" },
        el("input", {
          type: "checkbox", class: "rule-not", checked: node.negated ? true : null,
          onchange: (event) => { node.negated = event.target.checked; render(); },
        }),
        " not"));
    if (parent) {
      const siblings = parent.children;
      tools.append(
        el("button", {
          type: "button", class: "icon move-up", title: "Move up", "aria-label": "Move up",
          disabled: index === 0 ? true : null,
          onclick: () => { swap(siblings, index, index - 1); render(); },
        }, "↑"),
        el("button", {
          type: "button", class: "icon move-down", title: "Move down", "aria-label": "Move down",
          disabled: index === siblings.length - 1 ? true : null,
          onclick: () => { swap(siblings, index, index + 1); render(); },
        }, "↓"),
        el("button", {
          type: "button", class: "icon remove-node", title: "Remove", "aria-label": "Remove",
          onclick: () => { siblings.splice(index, 1); render(); },
        }, "×"),
      );
    }
    return tools;
  }

  function swap(items, first, second) {
    [items[first], items[second]] = [items[second], items[first]];
  }

  function renderGroup(node, parent, index) {
    const list = el("ol", { class: "group-children" },
      node.children.map((item, position) => el("li", {}, renderNode(item, node, position))));
    const box = el("div", { class: `rule-node rule-group${node.negated ? " negated" : ""}`, "data-match": node.match },
      el("div", { class: "group-head" },
        el("span", { class: "group-lead", text: node.negated ? "Customers NOT matching" : "Customers matching" }),
        el("select", {
          class: "group-match", "aria-label": "How the conditions combine",
          onchange: (event) => { node.match = event.target.value; render(); },
        }, option("all", "all of", node.match === "all"), option("any", "any of", node.match === "any")),
        nodeTools(node, parent, index)),
      list,
      el("div", { class: "group-actions" },
        el("button", {
          type: "button", class: "outline add-condition",
          onclick: () => { node.children.push(newCondition()); render(); },
        }, "+ Condition"),
        el("button", {
          type: "button", class: "outline secondary add-group",
          onclick: () => {
            const group = newGroup(node.match === "all" ? "any" : "all");
            group.children.push(newCondition());
            node.children.push(group);
            render();
          },
        }, "+ Group")),
      errorSlot(node));
    return box;
  }

  function renderCondition(node, parent, index) {
    const spec = fields.get(node.field);
    const fieldSelect = el("select", {
      class: "rule-field", "aria-label": "Field",
      onchange: (event) => { chooseField(node, event.target.value); render(); },
    }, option("", "Choose a field…", !node.field));
    for (const [family, label] of Object.entries(config.families)) {
      const group = el("optgroup", { label });
      for (const item of config.fields.filter((candidate) => candidate.family === family)) {
        // Fields with no history answer with today's value whatever the date (SPEC §2).
        const label = item.follows_as_of ? item.label : `${item.label} (today's value)`;
        group.append(option(item.name, label, item.name === node.field));
      }
      fieldSelect.append(group);
    }
    const row = el("div", { class: "condition-row" }, node.negated ? el("span", { class: "not-badge", text: "NOT" }) : null, fieldSelect);
    if (spec && !spec.follows_as_of) {
      row.append(el("span", {
        class: "no-history-badge",
        title: "This field keeps no history: a past date still reads today's value.",
        text: "no history",
      }));
    }
    if (spec) {
      row.append(el("select", {
        class: "rule-op", "aria-label": "Operator",
        onchange: (event) => { chooseOperator(node, spec, event.target.value); render(); },
      }, spec.operators.map((op) => option(op, config.operators[op] || op, op === node.op))));
      row.append(valueEditor(node, spec));
    }
    const box = el("div", { class: `rule-node rule-condition${node.negated ? " negated" : ""}` },
      el("div", { class: "condition-head" }, row, nodeTools(node, parent, index)));
    if (spec) {
      const extras = el("div", { class: "condition-extras" });
      if (spec.takes_kind) {
        extras.append(kindEditor(node, spec));
      }
      if (spec.takes_window) {
        extras.append(windowEditor(node));
      }
      if (spec.takes_purchase_scope) {
        extras.append(scopeEditor(node));
      }
      if (extras.childElementCount) {
        box.append(extras);
      }
      if (spec.help_text) {
        box.append(el("small", { class: "field-help", text: spec.help_text }));
      }
    }
    box.append(errorSlot(node));
    return box;
  }

  function errorSlot(node) {
    const slot = el("p", { class: "node-error", role: "alert", hidden: true });
    node.errorElement = slot;
    return slot;
  }

  function chooseField(node, name) {
    const spec = fields.get(name);
    node.field = name;
    node.op = spec ? spec.operators[0] : "";
    node.value = spec ? defaultValue(spec, node.op) : null;
    node.window = { mode: "any", lastDays: "", from: "", to: "" };
    node.kind = "";
    node.scope = {};
  }

  function chooseOperator(node, spec, op) {
    const wasList = LIST_OPS.has(node.op);
    const wasPair = node.op === "between";
    node.op = op;
    if (LIST_OPS.has(op) && wasList) {
      return;
    }
    if (LIST_OPS.has(op)) {
      node.value = node.value === null || node.value === "" || wasPair ? [] : [node.value];
    } else if (op === "between" || wasList || wasPair || op === "is_null" || op === "within_last_days") {
      node.value = defaultValue(spec, op);
    }
  }

  function defaultValue(spec, op) {
    if (op === "is_null") {
      return true;
    }
    if (LIST_OPS.has(op)) {
      return [];
    }
    if (op === "between") {
      return ["", ""];
    }
    if (spec.value_type === "boolean") {
      return true;
    }
    if (spec.value_type === "choice") {
      return spec.choices.length ? spec.choices[0].value : "";
    }
    return "";
  }

  // Inputs fitted to the field -------------------------------------------------------------

  function valueEditor(node, spec) {
    if (node.op === "is_null") {
      return el("select", {
        class: "rule-value", "aria-label": "Unknown?",
        onchange: (event) => { node.value = event.target.value === "true"; changed(); },
      }, option("true", "yes", node.value !== false), option("false", "no (it is known)", node.value === false));
    }
    if (node.op === "within_last_days") {
      return el("span", { class: "value-group" },
        numberInput(node.value, { min: 1, step: 1, label: "Days" }, (value) => { node.value = value; }),
        el("span", { class: "unit", text: "days" }));
    }
    if (node.op === "between") {
      const pair = Array.isArray(node.value) ? node.value : ["", ""];
      node.value = pair;
      return el("span", { class: "value-group" },
        scalarInput(spec, pair[0], (value) => { pair[0] = value; }, "From"),
        el("span", { class: "unit", text: "and" }),
        scalarInput(spec, pair[1], (value) => { pair[1] = value; }, "To"));
    }
    if (LIST_OPS.has(node.op)) {
      if (!Array.isArray(node.value)) {
        node.value = [];
      }
      return listEditor(node, spec);
    }
    return scalarInput(spec, node.value, (value) => { node.value = value; }, "Value");
  }

  function scalarInput(spec, value, update, label) {
    switch (spec.value_type) {
      case "boolean":
        return el("select", {
          class: "rule-value", "aria-label": label,
          onchange: (event) => { update(event.target.value === "true"); changed(); },
        }, option("true", "yes", value !== false), option("false", "no", value === false));
      case "choice":
        return el("select", {
          class: "rule-value", "aria-label": label,
          onchange: (event) => { update(event.target.value); changed(); },
        }, spec.choices.map((choice) => option(choice.value, choice.label, choice.value === value)));
      case "segment":
        return el("select", {
          class: "rule-value", "aria-label": label,
          onchange: (event) => { update(event.target.value); changed(); },
        }, option("", "Choose a segment…", !value),
        config.segments.map((segment) => option(String(segment.id), segment.name, String(segment.id) === String(value))));
      case "datetime":
        return el("input", {
          type: "date", class: "rule-value", "aria-label": label, value: String(value ?? "").slice(0, 10),
          oninput: (event) => { update(event.target.value); changed(); },
        });
      case "integer":
        return numberInput(value, { min: spec.minimum, max: spec.maximum, step: 1, label }, update);
      case "decimal":
        return numberInput(value, { min: spec.minimum, max: spec.maximum, step: "0.01", label }, update);
      default:
        return el("input", {
          type: "text", class: "rule-value", "aria-label": label, value: value ?? "",
          list: valuesList(spec.name), autocomplete: "off",
          oninput: (event) => { update(event.target.value); searchValues(spec.name, event.target.value); changed(); },
        });
    }
  }

  function numberInput(value, { min, max, step, label }, update) {
    return el("input", {
      type: "number", class: "rule-value", "aria-label": label, value: value ?? "",
      min: min ?? null, max: max ?? null, step, inputmode: "decimal",
      oninput: (event) => { update(event.target.value); changed(); },
    });
  }

  function listEditor(node, spec) {
    const values = node.value;
    if (spec.value_type === "choice" || spec.value_type === "segment" || spec.name === "birth_month") {
      const options = spec.value_type === "choice"
        ? spec.choices.map((choice) => [choice.value, choice.label])
        : spec.value_type === "segment"
          ? config.segments.map((segment) => [segment.id, segment.name])
          : MONTHS.map((month, position) => [position + 1, month]);
      return el("span", { class: "value-checkboxes rule-value", role: "group", "aria-label": "Values" },
        options.map(([value, label]) => el("label", { class: "nowrap" },
          el("input", {
            type: "checkbox", value: String(value),
            checked: values.map(String).includes(String(value)) ? true : null,
            onchange: (event) => {
              const position = values.map(String).indexOf(String(value));
              if (event.target.checked && position < 0) {
                values.push(value);
              } else if (!event.target.checked && position >= 0) {
                values.splice(position, 1);
              }
              changed();
            },
          }), ` ${label}`)));
    }
    // Free values (cities, categories, SKUs...): chips, with the values present in the data
    // offered as suggestions.
    const chips = el("span", { class: "chips" });
    const input = el("input", {
      type: spec.value_type === "text" ? "text" : "number", class: "chip-input",
      "aria-label": "Add a value", placeholder: "Add a value…", list: spec.value_type === "text" ? valuesList(spec.name) : null,
      autocomplete: "off",
    });
    const add = () => {
      const text = input.value.trim();
      if (text && !values.map(String).includes(text)) {
        values.push(text);
        drawChips();
        changed();
      }
      input.value = "";
    };
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === ",") {
        event.preventDefault();
        add();
      }
    });
    input.addEventListener("change", add);
    if (spec.value_type === "text") {
      input.addEventListener("input", () => searchValues(spec.name, input.value));
    }
    function drawChips() {
      chips.replaceChildren(...values.map((value, position) => el("span", { class: "chip" }, String(value),
        el("button", {
          type: "button", class: "chip-remove", "aria-label": `Remove ${value}`,
          onclick: () => { values.splice(position, 1); drawChips(); changed(); },
        }, "×"))));
    }
    drawChips();
    return el("span", { class: "value-chips rule-value" }, chips, input);
  }

  function kindEditor(node, spec) {
    return el("label", { class: "inline" }, "of kind ",
      el("select", {
        class: "rule-kind", "aria-label": "Event kind",
        onchange: (event) => { node.kind = event.target.value; changed(); },
      }, option("", "any kind", !node.kind), spec.kinds.map((kind) => option(kind.value, kind.label, kind.value === node.kind))));
  }

  function windowEditor(node) {
    const span = node.window;
    const holder = el("span", { class: "window-inputs" });
    const draw = () => {
      holder.replaceChildren();
      if (span.mode === "last") {
        holder.append(numberInput(span.lastDays, { min: 1, step: 1, label: "Days of the window" }, (value) => { span.lastDays = value; }),
          el("span", { class: "unit", text: "days" }));
      } else if (span.mode === "dates") {
        holder.append(
          el("input", { type: "date", "aria-label": "Window from", value: span.from, oninput: (event) => { span.from = event.target.value; changed(); } }),
          el("span", { class: "unit", text: "to" }),
          el("input", { type: "date", "aria-label": "Window to", value: span.to, oninput: (event) => { span.to = event.target.value; changed(); } }));
      }
    };
    draw();
    return el("span", { class: "inline window-editor" }, "when ",
      el("select", {
        class: "rule-window", "aria-label": "Time window",
        onchange: (event) => { span.mode = event.target.value; draw(); changed(); },
      }, option("any", "at any time", span.mode === "any"), option("last", "in the last…", span.mode === "last"),
      option("dates", "between dates…", span.mode === "dates")),
      holder);
  }

  function scopeEditor(node) {
    const used = SCOPE_KEYS.some(([key]) => node.scope[key]);
    return el("details", { class: "scope-editor", open: used ? true : null },
      el("summary", { text: "Only some orders…" }),
      el("span", { class: "scope-inputs" }, SCOPE_KEYS.map(([key, label]) => el("label", { class: "inline" }, label,
        el("input", {
          type: "text", value: node.scope[key] || "", list: valuesList(key), autocomplete: "off",
          "aria-label": `Only orders of this ${label.toLowerCase()}`, class: `scope-${key}`,
          oninput: (event) => {
            node.scope[key] = event.target.value.trim();
            searchValues(key, event.target.value);
            changed();
          },
        })))));
  }

  // A <datalist> per code field: the codes present in the data (matched whatever their
  // letter case), the most frequent first; typing searches the data for more.
  function valuesList(name) {
    const id = `values-${name}`;
    if (!valueLists.has(name)) {
      const entry = { list: el("datalist", { id }), search: null, timer: null, asked: 0 };
      document.body.append(entry.list);
      valueLists.set(name, entry);
      loadValues(name, "");
    }
    return id;
  }

  function searchValues(name, text) {
    const entry = valueLists.get(name);
    if (!entry) {
      return;
    }
    window.clearTimeout(entry.timer);
    entry.timer = window.setTimeout(() => loadValues(name, text.trim()), SEARCH_DEBOUNCE_MS);
  }

  function loadValues(name, search) {
    const entry = valueLists.get(name);
    if (entry.search === search) {
      return;
    }
    entry.search = search;
    // Answers may arrive out of order: only the latest question's answer is shown.
    const asked = ++entry.asked;
    const query = new URLSearchParams({ field: name });
    if (search) {
      query.set("search", search);
    }
    fetch(`${config.values_url}?${query}`, {
      headers: { Accept: "application/json" }, credentials: "same-origin",
    })
      .then((response) => (response.ok ? response.json() : { values: [] }))
      .then((data) => {
        if (asked === entry.asked) {
          entry.list.replaceChildren(...data.values.map((value) => el("option", { value })));
        }
      })
      .catch(() => {});
  }

  // Live count -----------------------------------------------------------------------------

  function changed() {
    pathToNode = new Map();
    const rules = toJSON(root, "");
    rulesInput.value = JSON.stringify(rules);
    clearErrors();
    const problems = [];
    walk(root, (node) => {
      const problem = incomplete(node);
      if (problem) {
        problems.push([node, problem]);
      }
    });
    window.clearTimeout(debounceTimer);
    if (problems.length) {
      for (const [node, problem] of problems) {
        showError(node, problem, "incomplete");
      }
      setStatus("Complete the highlighted conditions to count.");
      return;
    }
    setStatus("Counting…");
    debounceTimer = window.setTimeout(() => preview(rules), DEBOUNCE_MS);
  }

  function walk(node, visit) {
    visit(node);
    if (node.type === "group") {
      node.children.forEach((item) => walk(item, visit));
    }
  }

  async function preview(rules) {
    if (inFlight) {
      inFlight.abort();
    }
    const controller = new AbortController();
    inFlight = controller;
    const number = ++previewNumber;
    const body = { rules, builder_session: session };
    if (config.segment) {
      body.segment = config.segment;
    }
    let response;
    let data;
    try {
      response = await fetch(config.preview_url, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken },
        credentials: "same-origin",
        body: JSON.stringify(body),
        signal: controller.signal,
      });
      data = await response.json();
    } catch (error) {
      if (error.name !== "AbortError" && number === previewNumber) {
        setStatus("The count is not available right now; it is tried again at the next edit.");
      }
      return;
    } finally {
      if (inFlight === controller) {
        inFlight = null;
      }
    }
    if (number !== previewNumber) {
      return;
    }
    if (response.ok) {
      showCount(data);
    } else if (response.status === 400 && Object.hasOwn(data, "path")) {
      showCount(null);
      showError(pathToNode.get(data.path) || root, data.message, "refused");
      setStatus("The rules cannot be counted: see the message in red.");
    } else if (data.reason === "preview_superseded") {
      // A newer edit is being counted; its answer replaces this one.
    } else {
      showCount(null);
      setStatus(data.detail || data.message || "The count is not available right now.");
    }
  }

  function showCount(data) {
    if (!data) {
      output.count.textContent = "–";
      output.share.innerHTML = "&nbsp;";
      output.sentence.textContent = "";
      output.sample.replaceChildren();
      return;
    }
    output.count.textContent = data.count.toLocaleString("en-US");
    const share = data.total ? (data.count * 100) / data.total : 0;
    output.share.textContent = `${share.toFixed(1)}% of ${data.total.toLocaleString("en-US")} customers`;
    output.sentence.textContent = data.description;
    output.sample.replaceChildren(...data.sample.map((customer) => el("li", {},
      el("strong", { text: customer.customer_id }), ` ${customer.name}${customer.city ? ` · ${customer.city}` : ""}`)));
    setStatus(data.count === 0 ? "Nobody matches these rules now." : "");
  }

  function setStatus(text) {
    output.status.textContent = text;
  }

  function clearErrors() {
    walk(root, (node) => {
      if (node.errorElement) {
        node.errorElement.hidden = true;
        node.errorElement.textContent = "";
        node.errorElement.parentElement.classList.remove("has-error");
      }
    });
    output.rulesError.hidden = true;
  }

  function showError(node, message, kind) {
    const slot = node && node.errorElement;
    if (!slot) {
      output.rulesError.textContent = message;
      output.rulesError.hidden = false;
      return;
    }
    slot.textContent = message;
    slot.dataset.kind = kind;
    slot.hidden = false;
    slot.parentElement.classList.add("has-error");
  }

  function sessionToken() {
    const bytes = new Uint8Array(12);
    window.crypto.getRandomValues(bytes);
    return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  }

  // Saving ---------------------------------------------------------------------------------

  form.addEventListener("submit", (event) => {
    pathToNode = new Map();
    rulesInput.value = JSON.stringify(toJSON(root, ""));
    let first = null;
    walk(root, (node) => {
      const problem = incomplete(node);
      if (problem) {
        showError(node, problem, "incomplete");
        first = first || node;
      }
    });
    if (first) {
      event.preventDefault();
      first.errorElement.scrollIntoView({ block: "center" });
    }
  });

  // Start ----------------------------------------------------------------------------------

  if (config.rules) {
    root = fromJSON(config.rules);
    if (root.type !== "group") {
      const group = newGroup("all");
      group.children.push(root);
      root = group;
    }
  } else {
    root = newGroup("all");
    root.children.push(newCondition());
  }
  render();
  if (config.error) {
    window.clearTimeout(debounceTimer);
    showCount(null);
    showError(pathToNode.get(config.error.path) || root, config.error.message, "refused");
    setStatus("The rules were not saved: see the message in red.");
  }
})();
