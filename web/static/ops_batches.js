// The console's batch and workflow pages: follow GET /api/ops/batches/<id> or
// /api/ops/workflows/<id> with aulaPoll (Retry-After as the interval, If-None-Match, stops once
// the server stops sending Retry-After) and update counters, states and timings in place.
"use strict";
(function () {
  function seconds(ms, digits) {
    return ms === null || ms === undefined ? "—" : (ms / 1000).toFixed(digits) + " s";
  }
  function when(value) {
    return value ? value.slice(0, 19).replace("T", " ") : "—";
  }
  function stateBadge(state) {
    const span = document.createElement("span");
    span.className = "state state-" + state;
    span.textContent = state;
    return span;
  }
  function jobLink(job, text) {
    const a = document.createElement("a");
    a.href = job.url;
    a.textContent = text;
    return a;
  }
  function follow(section, render) {
    if (!section || section.dataset.finished === "true" || !window.aulaPoll) return;
    const status = section.querySelector("[data-poll-status]");
    if (status) status.textContent = "Updating live…";
    window.aulaPoll(section.dataset.pollUrl, render, {
      onError: function (code) {
        if (status) status.textContent = "Stopped updating (HTTP " + code + "); reload the page.";
      }
    });
  }

  function renderBatch(section, body) {
    const batch = body.batch;
    const state = section.querySelector("[data-batch-state]");
    state.textContent = batch.state;
    state.className = "state state-" + batch.state;
    ["total", "succeeded", "failed", "pending"].forEach(function (name) {
      section.querySelector('[data-count="' + name + '"]').textContent = batch[name];
    });
    const progress = section.querySelector("[data-batch-progress]");
    progress.max = Math.max(batch.total, 1);
    progress.value = batch.succeeded + batch.failed;
    section.querySelector("[data-batch-completed]").textContent = batch.completed_at || "not yet";
    if (batch.followup) {
      const cell = section.querySelector("[data-batch-followup]");
      cell.replaceChildren(jobLink(batch.followup, batch.followup.type), " ", stateBadge(batch.followup.state));
    }
  }

  function renderWorkflow(section, body) {
    const workflow = body.workflow;
    const state = section.querySelector("[data-workflow-state]");
    state.textContent = workflow.state;
    state.className = "state state-" + workflow.state;
    section.querySelector("[data-workflow-steps-done]").textContent = workflow.steps_done;
    const error = section.querySelector("[data-workflow-error]");
    error.textContent = workflow.error || "";
    error.hidden = !workflow.error;
    section.querySelector("[data-workflow-finished]").textContent = when(workflow.finished_at);
    section.querySelector("[data-workflow-duration]").textContent = seconds(workflow.duration_ms, 2);
    workflow.steps.forEach(function (step) {
      const row = section.querySelector('tr[data-step="' + CSS.escape(step.name) + '"]');
      if (!row) return;
      const badge = row.querySelector("[data-step-state]");
      badge.textContent = step.state;
      badge.className = "state state-" + step.state;
      const jobCell = row.querySelector("[data-step-job]");
      if (step.job) jobCell.replaceChildren(jobLink(step.job, step.job.id.slice(0, 8)));
      row.querySelector("[data-step-start]").textContent = when(step.started_at);
      row.querySelector("[data-step-end]").textContent = when(step.finished_at);
      row.querySelector("[data-step-duration]").textContent = seconds(step.duration_ms, 2);
      const undo = row.querySelector("[data-step-undo]");
      if (step.compensation) undo.replaceChildren(jobLink(step.compensation, "undo"), " ", stateBadge(step.compensation.state));
      row.querySelector("[data-step-error]").textContent = (step.job && step.job.error) || "";
    });
    const list = section.querySelector("[data-compensations]");
    if (workflow.compensations.length) {
      list.replaceChildren.apply(list, workflow.compensations.map(function (c) {
        const item = document.createElement("li");
        item.append("Undo " + (c.title || c.step) + ": ", stateBadge(c.state));
        if (c.job) item.append(" ", jobLink(c.job, c.job.id.slice(0, 8)), " · " + seconds(c.job.duration_ms, 2));
        return item;
      }));
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    const batch = document.getElementById("ops-batch");
    follow(batch, function (body) { renderBatch(batch, body); });
    const workflow = document.getElementById("ops-workflow");
    follow(workflow, function (body) { renderWorkflow(workflow, body); });
  });
})();
