// One task: its trail, checklist results, photos, location against the subject's, receipt.

import { api, formatTime, h, label, showError, t } from "./core.js";
import { stateBadge } from "./board.js";

function locationSketch(result, subject) {
  if (!result || result.latitude === null || !subject) return h("p", { class: "muted" }, "—");
  const points = [[subject.lon, subject.lat], [result.longitude, result.latitude]];
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const span = Math.max(Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys), 0.0005);
  const cx = (Math.max(...xs) + Math.min(...xs)) / 2;
  const cy = (Math.max(...ys) + Math.min(...ys)) / 2;
  const project = ([x, y]) => [100 + ((x - cx) / span) * 140, 100 - ((y - cy) / span) * 140];
  const [s, r] = points.map(project);
  return h("svg", { viewBox: "0 0 200 200", width: 200, height: 200, class: "chart", id: "task-location" },
    h("line", { x1: s[0], y1: s[1], x2: r[0], y2: r[1], class: "axis" }),
    h("circle", { cx: s[0], cy: s[1], r: 6, fill: "#2e9d5b" }, h("title", {}, t("Subject"))),
    h("circle", { cx: r[0], cy: r[1], r: 6, fill: result.location_flagged ? "#c8322b" : "#1f5fbf" }, h("title", {}, t("Location"))),
  );
}

function resultSection(task) {
  const result = task.result;
  if (!result) return h("p", { class: "muted" }, t("No result yet."));
  return h("div", {},
    h("h3", {}, t("Checklist answers")),
    h("table", { id: "task-answers" },
      h("tbody", {}, result.answers.map((answer) =>
        h("tr", {}, h("td", {}, answer.code), h("td", {}, answer.text), h("td", {}, t(answer.answer)), h("td", {}, answer.note || "")),
      )),
    ),
    h("p", {}, h("strong", {}, t("Opinion"), ": "), result.opinion),
    h("h3", {}, t("Location")),
    result.distance_m !== null ? h("p", {}, t("Submitted at {distance} m from the subject's registered location.", { distance: Math.round(result.distance_m) })) : null,
    result.location_flagged ? h("p", { class: "error" }, t("The submission location is too far from the subject.")) : null,
    locationSketch(result, task.subject_location),
    task.receipt_url ? h("p", {}, h("a", { href: task.receipt_url, target: "_blank", id: "task-receipt" }, t("Receipt (PDF)"))) : null,
  );
}

export async function renderTask(container, id) {
  container.replaceChildren(h("p", { class: "muted" }, t("Loading…")));
  let task;
  try {
    task = await api(`/console/api/tasks/${encodeURIComponent(id)}`);
  } catch (error) {
    return showError(container, error);
  }
  container.replaceChildren(
    h("section", { class: "panel", id: "task", "data-task-id": task.id },
      h("p", {}, h("a", { href: "#/board" }, t("Back to the board"))),
      h("h2", {}, t("Task {id}", { id: task.id }), " · ", task.title, " ", stateBadge(task.state),
        task.overdue ? h("span", { class: "badge overdue" }, t("Overdue")) : null),
      h("p", {}, task.body),
      h("table", {}, h("tbody", {},
        h("tr", {}, h("th", {}, t("Assignee")), h("td", {}, `${task.inspector.name} (${task.inspector.code})`)),
        h("tr", {}, h("th", {}, t("Grid")), h("td", {}, task.grid_name)),
        h("tr", {}, h("th", {}, t("Subject")), h("td", {}, task.subject_name || "—")),
        h("tr", {}, h("th", {}, t("Routing")), h("td", {}, task.routing)),
        h("tr", {}, h("th", {}, t("Acknowledge by")), h("td", {}, formatTime(task.ack_due_at))),
        h("tr", {}, h("th", {}, t("Result due by")), h("td", {}, formatTime(task.due_at))),
      )),
      h("h3", {}, t("Trail")),
      h("table", { id: "task-trail" },
        h("thead", {}, h("tr", {}, [t("Time"), t("Event"), t("State"), t("Actor")].map((label) => h("th", {}, label)))),
        h("tbody", {}, task.trail.map((entry) =>
          h("tr", {}, h("td", {}, formatTime(entry.at)), h("td", {}, label("event", entry.kind)), h("td", {}, label("state", entry.state)), h("td", {}, entry.actor)),
        )),
      ),
      resultSection(task),
      h("h3", {}, t("Photos")),
      h("div", { class: "photos", id: "task-photos" },
        task.photos.map((photo) => h("a", { href: photo.url, target: "_blank" }, h("img", { src: photo.url, alt: `${t("Photos")} ${photo.id}` })))),
    ),
  );
}
