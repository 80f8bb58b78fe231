// The live task board: filters and paging on the server, refreshed by the event stream.

import { api, divisionOptions, divisions, formatTime, h, label, options, showError, t } from "./core.js";

const PAGE_SIZE = 50;
const STATES = ["new", "acknowledged", "declined", "submitted", "closed", "cancelled"];
const KINDS = ["directive", "lead", "followup"];
const PRIORITIES = ["low", "normal", "high", "urgent"];

const board = { filters: {}, offset: 0, container: null, refreshTimer: null, flash: new Set(), recent: [] };

export function stateBadge(stateName) {
  return h("span", { class: `badge state-${stateName}` }, label("state", stateName));
}

function row(task) {
  const flags = [];
  if (task.overdue) flags.push(h("span", { class: "badge overdue" }, t("Overdue")));
  if (task.escalation_step > 0) flags.push(h("span", { class: "badge escalated" }, t("Escalated")));
  const deadline = task.state === "new" ? task.ack_due_at : task.due_at;
  return h(
    "tr",
    { "data-task-id": task.id, "data-state": task.state, class: board.flash.has(task.id) ? "flash" : null },
    h("td", {}, h("a", { href: `#/task/${task.id}` }, task.id)),
    h("td", {}, task.title),
    h("td", {}, label("kind", task.kind)),
    h("td", {}, label("priority", task.priority)),
    h("td", {}, stateBadge(task.state), " ", flags),
    h("td", {}, `${task.inspector.name} (${task.inspector.code})`),
    h("td", {}, formatTime(deadline)),
  );
}

function query() {
  const parameters = new URLSearchParams({ limit: PAGE_SIZE, offset: board.offset });
  for (const [name, value] of Object.entries(board.filters)) if (value) parameters.set(name, value);
  return parameters.toString();
}

async function refresh() {
  const target = board.container && board.container.querySelector("#board-rows");
  if (!target || !target.isConnected) return;
  try {
    const page = await api(`/console/api/tasks?${query()}`);
    const pages = Math.max(1, Math.ceil(page.total / PAGE_SIZE));
    target.replaceChildren(...page.items.map(row));
    board.container.querySelector("#board-page").textContent = t("Page {page} of {pages}, {total} tasks", {
      page: Math.floor(board.offset / PAGE_SIZE) + 1,
      pages,
      total: page.total,
    });
    board.container.querySelector("#board-previous").disabled = board.offset === 0;
    board.container.querySelector("#board-next").disabled = board.offset + PAGE_SIZE >= page.total;
    board.container.dataset.loaded = String(Date.now());
    board.flash.clear();
  } catch (error) {
    showError(target, error);
  }
}

function renderRecent() {
  const list = document.getElementById("board-events");
  if (!list) return;
  list.replaceChildren(
    ...board.recent.map((event) =>
      h("li", {}, formatTime(event.at), " · ", h("a", { href: `#/task/${event.task_id}` }, t("Task {id}", { id: event.task_id })), " · ", label("event", event.kind), " · ", event.actor),
    ),
  );
}

export function onTaskEvent(event) {
  board.recent.unshift(event);
  board.recent.length = Math.min(board.recent.length, 20);
  board.flash.add(event.task_id);
  renderRecent();
  clearTimeout(board.refreshTimer);
  board.refreshTimer = setTimeout(refresh, 300);
}

export async function renderBoard(container) {
  board.container = container;
  const list = await divisions().catch(() => []);
  const form = h(
    "form",
    { class: "filters", id: "board-filters" },
    h("label", {}, t("Division"), h("select", { name: "division" }, divisionOptions(list, board.filters.division))),
    h("label", {}, t("Kind"), h("select", { name: "kind" }, options(KINDS.map((k) => [k, label("kind", k)]), board.filters.kind))),
    h("label", {}, t("Priority"), h("select", { name: "priority" }, options(PRIORITIES.map((p) => [p, label("priority", p)]), board.filters.priority))),
    h("label", {}, t("State"), h("select", { name: "state" }, options(STATES.map((s) => [s, label("state", s)]), board.filters.state))),
    h("button", { type: "submit" }, t("Apply")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    board.filters = Object.fromEntries(new FormData(form).entries());
    board.offset = 0;
    refresh();
  });
  const previous = h("button", { type: "button", class: "secondary", id: "board-previous" }, t("Previous page"));
  const next = h("button", { type: "button", class: "secondary", id: "board-next" }, t("Next page"));
  previous.addEventListener("click", () => { board.offset = Math.max(0, board.offset - PAGE_SIZE); refresh(); });
  next.addEventListener("click", () => { board.offset += PAGE_SIZE; refresh(); });
  container.replaceChildren(
    h("div", { class: "row" },
      h("section", { class: "panel grow", id: "board" },
        h("h2", {}, t("Task board")),
        form,
        h("table", {},
          h("thead", {}, h("tr", {}, ["#", t("Title"), t("Kind"), t("Priority"), t("State"), t("Assignee"), t("Deadline")].map((label) => h("th", {}, label)))),
          h("tbody", { id: "board-rows" }),
        ),
        h("p", { class: "row" }, previous, h("span", { id: "board-page", class: "muted" }), next),
      ),
      h("aside", { class: "panel side" }, h("h3", {}, t("Latest events")), h("ul", { id: "board-events" })),
    ),
  );
  renderRecent();
  await refresh();
}
