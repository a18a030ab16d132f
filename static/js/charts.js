// Draws the Plotly charts of a page once plotly.min.js has run; loaded, deferred and after
// it, by templates/components/charts.html, only on pages that show a chart.
//
// analytics.charts.chart_html() puts each figure inside <template data-chart>: Plotly's
// markup calls Plotly.newPlot in an inline script, which would throw before the deferred
// plotly.min.js has run, and a template's scripts do not run. A copy of the template's
// content put in its place does run them (document.importNode), and so draws the chart.
"use strict";

(() => {
  function drawCharts() {
    if (typeof window.Plotly === "undefined") {
      // plotly.min.js did not load (its failed request is the error to look at); the charts
      // stay inert rather than each throwing "Plotly is not defined".
      return;
    }
    // The whole document each time: a drawn chart leaves no template behind, so this is
    // idempotent, and it holds whatever element htmx reports (an outerHTML swap's target is
    // the element it took out).
    for (const template of document.querySelectorAll("template[data-chart]")) {
      template.replaceWith(document.importNode(template.content, true));
    }
  }

  drawCharts();
  // A chart may also arrive in content htmx swaps in later (out-of-band swaps included).
  document.body.addEventListener("htmx:load", drawCharts);
  document.body.addEventListener("htmx:afterSwap", drawCharts);
})();
