// Issuing a directive to a division, grid, inspector or subject, and cancelling one.

import { api, formatTime, h, label, options, showError, state, t } from "./core.js";
import { stateBadge } from "./board.js";

const TARGETS = [["grid", "Grid"], ["division", "Division"], ["inspector", "Inspector"], ["subject", "Subject"]];
const PRIORITIES = ["low", "normal", "high", "urgent"];

function formBody(form) {
  const data = Object.fromEntries(new FormData(form).entries());
  const body = {
    target: { kind: data.target_kind, code: data.target_code.trim() },
    title: data.title,
    body: data.body,
    priority: data.priority,
    assignment: data.assignment,
  };
  if (data.ack_within.trim()) body.ack_within = data.ack_within.trim();
  if (data.due_within.trim()) body.due_within = data.due_within.trim();
  return body;
}

async function showRouting(holder, messageId) {
  try {
    const detail = await api(`/console/api/directives/${encodeURIComponent(messageId)}`);
    holder.replaceChildren(h("ul", {}, detail.tasks.map((task) =>
      h("li", {}, h("a", { href: `#/task/${task.id}` }, `#${task.id}`), ` ${task.inspector_name} (${task.inspector}) · ${t("Routing")}: ${task.routing} `, stateBadge(task.state)))));
  } catch (error) {
    showError(holder, error);
  }
}

async function loadRecent(list) {
  try {
    const page = await api("/console/api/directives?limit=20");
    list.replaceChildren(...page.items.map((directive) => {
      const routing = h("div", {});
      const cancel = h("button", { type: "button", class: "secondary", "data-cancel": directive.message_id }, t("Cancel"));
      cancel.addEventListener("click", async () => {
        if (!window.confirm(t("Cancel this directive's open tasks?"))) return;
        try {
          const outcome = await api(`/console/api/directives/${encodeURIComponent(directive.message_id)}/cancel`, { method: "POST", body: {} });
          routing.replaceChildren(h("p", { class: "notice" }, t("Cancelled {count} open tasks.", { count: outcome.cancelled_task_ids.length })));
        } catch (error) {
          showError(routing, error);
        }
      });
      const show = h("button", { type: "button", class: "secondary" }, t("Routing"));
      show.addEventListener("click", () => showRouting(routing, directive.message_id));
      return h("li", { "data-message-id": directive.message_id },
        h("strong", {}, directive.title), ` · ${directive.target_kind} ${directive.target_code} · ${label("priority", directive.priority)} · ${formatTime(directive.created_at)} `,
        show, " ", cancel, routing);
    }));
  } catch (error) {
    showError(list, error);
  }
}

function triageItem(lead) {
  const notice = h("span", { role: "status" });
  const form = h("form", { class: "inline", "data-lead-id": lead.id },
    h("label", {}, t("Grid code"), h("input", { name: "grid" })),
    h("label", {}, t("Staff code"), h("input", { name: "inspector" })),
    h("button", { type: "submit" }, t("Route by hand")),
    notice);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form).entries());
    const body = {};
    if (data.grid.trim()) body.grid = data.grid.trim();
    if (data.inspector.trim()) body.inspector = data.inspector.trim();
    try {
      const routed = await api(`/console/api/triage/${lead.id}/route`, { method: "POST", body });
      notice.className = "notice";
      notice.replaceChildren(h("a", { href: `#/task/${routed.task_id}` }, t("Routed: task {id}.", { id: routed.task_id })));
    } catch (error) {
      notice.className = "error";
      notice.textContent = t("Error: {message}", { message: error.message });
    }
  });
  return h("li", {}, h("strong", {}, lead.title), ` · ${t("Source")}: ${lead.source} · ${label("priority", lead.severity)} · ${formatTime(lead.created_at)}`,
    lead.address ? ` · ${lead.address}` : "", form);
}

async function loadTriage(list) {
  try {
    const leads = await api("/console/api/triage");
    list.replaceChildren(...(leads.length ? leads.map(triageItem) : [h("li", { class: "muted" }, t("No lead is waiting."))]));
  } catch (error) {
    showError(list, error);
  }
}

export async function renderDirectives(container) {
  const notice = h("p", { id: "directive-notice", role: "status" });
  const form = h("form", { id: "directive-form", class: "filters" },
    h("label", {}, t("Target"), h("select", { name: "target_kind" }, options(TARGETS.map(([k, label]) => [k, t(label)]), "grid", { any: false }))),
    h("label", {}, t("Target code"), h("input", { name: "target_code", required: true })),
    h("label", {}, t("Title"), h("input", { name: "title", required: true, maxlength: 200, size: 40 })),
    h("label", {}, t("Text"), h("textarea", { name: "body", rows: 2, cols: 40 })),
    h("label", {}, t("Priority"), h("select", { name: "priority" }, options(PRIORITIES.map((p) => [p, label("priority", p)]), "normal", { any: false }))),
    h("label", {}, t("Acknowledge within"), h("input", { name: "ack_within", placeholder: t("e.g. 30m, 4h or 3 working days") })),
    h("label", {}, t("Result due within"), h("input", { name: "due_within", placeholder: t("e.g. 30m, 4h or 3 working days") })),
    h("label", {}, t("Assignment"), h("select", { name: "assignment" }, options([["each", t("each")], ["claim", t("claim")]], "each", { any: false }))),
    h("button", { type: "submit" }, t("Issue")),
  );
  const recent = h("ul", { id: "directive-list" });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    notice.className = "";
    try {
      await api("/console/api/directives", { method: "POST", body: formBody(form) });
      notice.className = "notice";
      notice.textContent = t("The directive was sent; its tasks appear on the board in a moment.");
      form.reset();
      setTimeout(() => loadRecent(recent), 1000);
    } catch (error) {
      notice.className = "error";
      notice.textContent = t("Error: {message}", { message: error.message });
    }
  });
  const triage = h("ul", { id: "triage-list" });
  const sections = [
    h("section", { class: "panel" }, h("h2", {}, t("Issue a directive")), form, notice),
    h("section", { class: "panel" }, h("h2", {}, t("Recent directives")), recent),
  ];
  // The triage queue belongs to the command centre: its leads have no county.
  if (!state.user.county) sections.push(h("section", { class: "panel" }, h("h2", {}, t("Triage queue")), triage));
  container.replaceChildren(...sections);
  await loadRecent(recent);
  if (!state.user.county) await loadTriage(triage);
}
