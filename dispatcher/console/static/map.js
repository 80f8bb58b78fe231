// The division map drawn as SVG from the grids' boundaries: no tiles, works offline.

import { api, divisionOptions, divisions, h, showError, t } from "./core.js";
import { stateBadge } from "./board.js";

const WIDTH = 1000;
const mapState = { division: "" };

function projection(areas) {
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  for (const area of areas) for (const ring of area.rings) for (const [x, y] of ring) {
    minX = Math.min(minX, x); maxX = Math.max(maxX, x); minY = Math.min(minY, y); maxY = Math.max(maxY, y);
  }
  const squash = Math.cos((((minY + maxY) / 2) * Math.PI) / 180);
  const scale = WIDTH / Math.max((maxX - minX) * squash, 1e-6);
  const height = Math.max((maxY - minY) * scale, 1);
  return { height, point: ([x, y]) => [((x - minX) * squash * scale).toFixed(1), ((maxY - y) * scale).toFixed(1)] };
}

function pathOf(rings, point) {
  return rings.map((ring) => `M${ring.map((p) => point(p).join(",")).join("L")}Z`).join("");
}

function gridClass(area) {
  if (area.overdue > 0) return "overdue";
  if (area.open > 0) return "open";
  return "quiet";
}

async function showPanel(panel, area) {
  panel.replaceChildren(h("p", { class: "muted" }, t("Loading…")));
  try {
    const data = await api(`/console/api/grids/${encodeURIComponent(area.code)}`);
    panel.replaceChildren(
      h("h3", { id: "grid-name" }, `${data.name} (${data.code})`),
      h("p", {}, `${t("Open tasks")}: ${area.open} · ${t("Overdue tasks")}: ${area.overdue}`),
      h("h4", {}, t("Inspectors")),
      h("ul", { id: "grid-inspectors" }, data.inspectors.map((i) => h("li", {}, `${i.name} (${i.code}) · ${i.role}`))),
      h("h4", {}, t("Tasks")),
      h("ul", { id: "grid-tasks" }, data.tasks.map((task) =>
        h("li", {}, h("a", { href: `#/task/${task.id}` }, `#${task.id} ${task.title}`), " ", stateBadge(task.state)))),
      h("h4", {}, t("Subjects")),
      h("ul", { id: "grid-subjects" }, data.subjects.map((s) => h("li", {}, s.name))),
    );
  } catch (error) {
    showError(panel, error);
  }
}

function drawMap(data, panel) {
  const { height, point } = projection(data.areas);
  const svg = h("svg", { class: "map", id: "map-svg", viewBox: `-10 -10 ${WIDTH + 20} ${height + 20}`, preserveAspectRatio: "xMidYMid meet" });
  const order = { county: 0, township: 1, grid: 2 };
  const grids = new Map();
  // A click on a grid, or on a marker inside it, opens that grid's panel.
  svg.addEventListener("click", (event) => {
    const code = event.target.closest("[data-code], [data-grid]")?.dataset;
    const picked = code && grids.get(code.code || code.grid);
    if (!picked) return;
    for (const selected of svg.querySelectorAll(".selected")) selected.classList.remove("selected");
    picked.shape.classList.add("selected");
    showPanel(panel, picked.area);
  });
  const areas = [...data.areas].sort((a, b) => (order[b.level] ?? 0) - (order[a.level] ?? 0));
  for (const area of areas) {
    if (area.level !== "grid") continue;
    const shape = h("path", { d: pathOf(area.rings, point), class: `area grid ${gridClass(area)}`, "data-code": area.code },
      h("title", {}, `${area.name}: ${t("Open tasks")} ${area.open}, ${t("Overdue tasks")} ${area.overdue}`));
    grids.set(area.code, { shape, area });
    svg.append(shape);
  }
  for (const area of areas) {
    if (area.level === "grid") continue;
    svg.append(h("path", { d: pathOf(area.rings, point), class: `area ${area.level}` }));
  }
  const dots = h("g", { id: "map-subjects" });
  for (const subject of data.subjects) {
    const [x, y] = point([subject.lon, subject.lat]);
    let status = "unknown";
    if (subject.compliant === true) status = "compliant";
    if (subject.compliant === false) status = "noncompliant";
    dots.append(h("circle", { cx: x, cy: y, r: 2.2, class: `subject ${status}`, "data-grid": subject.grid }, h("title", {}, subject.name)));
  }
  svg.append(dots);
  const people = h("g", { id: "map-inspectors" });
  for (const inspector of data.inspectors) {
    const [x, y] = point([inspector.lon, inspector.lat]);
    people.append(h("rect", { x: x - 3.5, y: y - 3.5, width: 7, height: 7, class: "inspector", "data-grid": inspector.grid },
      h("title", {}, `${inspector.name} (${inspector.code})`)));
  }
  svg.append(people);
  return svg;
}

function legend() {
  const item = (color, label) => h("span", {}, h("i", { class: `swatch ${color}` }), label);
  return h("div", { class: "legend" },
    item("open", t("Open tasks")), item("overdue", t("Overdue tasks")),
    item("compliant", t("Compliant")), item("noncompliant", t("Not compliant")), item("unknown", t("Not inspected")),
    item("inspector", t("Inspector's last position")));
}

export async function renderMap(container) {
  const list = await divisions().catch(() => []);
  const mapHolder = h("div", { id: "map-holder" }, h("p", { class: "muted" }, t("Loading…")));
  const panel = h("aside", { class: "panel side", id: "grid-panel" }, h("p", { class: "muted" }, t("Click a grid to see its inspectors, subjects and tasks.")));
  const select = h("select", { name: "division", id: "map-division" },
    divisionOptions(list.filter((d) => d.level !== "grid"), mapState.division, { any: false }));
  select.addEventListener("change", () => { mapState.division = select.value; load(); });
  container.replaceChildren(
    h("div", { class: "row" },
      h("section", { class: "panel grow" }, h("h2", {}, t("Map")), h("form", { class: "inline" }, h("label", {}, t("Division"), select)), mapHolder, legend()),
      panel,
    ),
  );
  async function load() {
    try {
      const query = mapState.division ? `?division=${encodeURIComponent(mapState.division)}` : "";
      const data = await api(`/console/api/map${query}`);
      mapState.division = data.division;
      select.value = data.division;
      mapHolder.replaceChildren(drawMap(data, panel));
      mapHolder.dataset.loaded = data.division;
    } catch (error) {
      showError(mapHolder, error);
    }
  }
  await load();
}
