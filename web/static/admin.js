// The workflow page: follow GET /api/workflows/<id> with aulaPoll (Retry-After as the interval,
// If-None-Match, stops once the workflow is finished) and update the steps in place.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  const section = document.getElementById("workflow");
  if (!section || section.dataset.finished === "true" || !window.aulaPoll) return;
  const status = section.querySelector("[data-poll-status]");
  const FINISHED = ["succeeded", "failed", "compensated", "cancelled"];

  function render(body) {
    const workflow = body.workflow;
    const state = section.querySelector("[data-workflow-state]");
    state.textContent = workflow.state;
    state.dataset.workflowState = workflow.state;
    const error = section.querySelector("[data-workflow-error]");
    error.textContent = workflow.error || "";
    error.hidden = !workflow.error;
    workflow.steps.forEach(function (step) {
      const item = section.querySelector('li[data-step="' + CSS.escape(step.name) + '"]');
      if (!item) return;
      item.dataset.state = step.state;
      item.querySelector("[data-step-state]").textContent = step.state;
      item.querySelector("[data-step-undo]").textContent =
        step.compensation ? "(undo: " + step.compensation.state + ")" : "";
      item.querySelector("[data-step-error]").textContent = (step.job && step.job.error) || "";
    });
    if (FINISHED.indexOf(workflow.state) >= 0) {
      section.dataset.finished = "true";
      status.textContent = "Finished.";
    }
  }

  window.aulaPoll(section.dataset.pollUrl, render, {
    onError: function (code) { status.textContent = "Stopped updating (HTTP " + code + "); reload the page."; }
  });
});
