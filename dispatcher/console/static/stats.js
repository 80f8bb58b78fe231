// The three rates and per-inspector figures as SVG bar charts, the numbers one click away.

import { api, divisionOptions, divisions, h, showError, state, t } from "./core.js";

const RATES = [["registration", "Registration rate"], ["coverage", "Inspection coverage rate"], ["compliance", "Production compliance rate"]];
const statsState = { division: "", start: "", end: "" };

function percent(value) {
  return value === null ? t("no value") : `${(value * 100).toFixed(1)}%`;
}

function rateChart(rates) {
  const width = 600, barHeight = 34, gap = 16, left = 190, span = width - left - 70;
  const svg = h("svg", { class: "chart", id: "chart-rates", viewBox: `0 0 ${width} ${RATES.length * (barHeight + gap)}`, role: "img" });
  RATES.forEach(([key, label], index) => {
    const rate = rates[key];
    const y = index * (barHeight + gap);
    svg.append(
      h("text", { x: 0, y: y + barHeight / 2 + 4 }, t(label)),
      h("rect", { x: left, y, width: span, height: barHeight, fill: "#eef2f6" }),
      h("rect", { x: left, y, width: Math.max(0, (rate.value || 0) * span), height: barHeight, class: "bar", "data-rate": key },
        h("title", {}, `${rate.numerator} / ${rate.denominator}`)),
      h("text", { x: left + span + 6, y: y + barHeight / 2 + 4 }, percent(rate.value)),
    );
  });
  return svg;
}

function inspectorChart(inspectors) {
  const shown = [...inspectors].sort((a, b) => b.inspections - a.inspections).slice(0, 25);
  const width = 600, barHeight = 16, gap = 6, left = 150, span = width - left - 40;
  const most = Math.max(1, ...shown.map((i) => i.inspections));
  const svg = h("svg", { class: "chart", id: "chart-inspectors", viewBox: `0 0 ${width} ${Math.max(1, shown.length) * (barHeight + gap)}`, role: "img" });
  shown.forEach((inspector, index) => {
    const y = index * (barHeight + gap);
    svg.append(
      h("text", { x: 0, y: y + 12 }, `${inspector.name} ${inspector.code}`),
      h("rect", { x: left, y, width: (inspector.inspections / most) * span, height: barHeight, class: "bar alt" },
        h("title", {}, `${t("Inspections")}: ${inspector.inspections}`)),
      h("text", { x: left + (inspector.inspections / most) * span + 4, y: y + 12 }, inspector.inspections),
    );
  });
  return svg;
}

function rateTable(rates) {
  return h("table", { class: "numbers", id: "numbers-rates" },
    h("thead", {}, h("tr", {}, ["", t("Numerator"), t("Denominator"), t("Value")].map((label) => h("th", {}, label)))),
    h("tbody", {}, RATES.map(([key, label]) => h("tr", {}, h("td", {}, t(label)), h("td", {}, rates[key].numerator), h("td", {}, rates[key].denominator), h("td", {}, percent(rates[key].value))))));
}

function inspectorTable(inspectors) {
  return h("table", { class: "numbers", id: "numbers-inspectors" },
    h("thead", {}, h("tr", {}, [t("Inspector"), t("Inspections"), t("Subjects covered"), t("Failed items")].map((label) => h("th", {}, label)))),
    h("tbody", {}, inspectors.map((i) => h("tr", {}, h("td", {}, `${i.name} (${i.code})`), h("td", {}, i.inspections), h("td", {}, i.subjects_covered), h("td", {}, i.failed_items)))));
}

function withNumbers(chart, table) {
  table.hidden = true;
  const toggle = h("button", { type: "button", class: "secondary toggle-numbers" }, t("Show the numbers"));
  toggle.addEventListener("click", () => {
    table.hidden = !table.hidden;
    toggle.textContent = table.hidden ? t("Show the numbers") : t("Hide the numbers");
  });
  return h("div", {}, chart, toggle, table);
}

function chinaDate(iso) {
  return new Date(iso).toLocaleDateString("sv-SE", { timeZone: "Asia/Shanghai" });
}

export async function renderStats(container) {
  const list = await divisions().catch(() => []);
  const holder = h("div", { id: "stats-holder" }, h("p", { class: "muted" }, t("Loading…")));
  const exportLink = h("a", { id: "stats-export", href: "#" }, t("Export to XLSX"));
  const form = h("form", { class: "filters", id: "stats-form" },
    h("label", {}, t("Division"), h("select", { name: "division" }, divisionOptions(list, statsState.division, { any: false }))),
    h("label", {}, t("Period start"), h("input", { type: "date", name: "start", value: statsState.start })),
    h("label", {}, t("Period end"), h("input", { type: "date", name: "end", value: statsState.end })),
    h("button", { type: "submit" }, t("Apply")),
    exportLink,
  );
  async function load() {
    const parameters = new URLSearchParams();
    for (const [name, value] of Object.entries(statsState)) if (value) parameters.set(name, name === "division" ? value : `${value}T00:00:00`);
    try {
      const data = await api(`/console/api/stats?${parameters}`);
      statsState.division = data.division.code;
      statsState.start = chinaDate(data.start);
      statsState.end = chinaDate(data.end);
      form.division.value = data.division.code;
      form.start.value = statsState.start;
      form.end.value = statsState.end;
      exportLink.href = `/console/api/stats.xlsx?${parameters}`;
      holder.replaceChildren(
        h("h3", {}, `${data.division.name} · ${statsState.start} – ${statsState.end}`),
        withNumbers(rateChart(data.rates), rateTable(data.rates)),
        h("h3", {}, t("Inspections")),
        withNumbers(inspectorChart(data.inspectors), inspectorTable(data.inspectors)),
      );
      holder.dataset.loaded = state.locale;
    } catch (error) {
      showError(holder, error);
    }
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    Object.assign(statsState, Object.fromEntries(new FormData(form).entries()));
    load();
  });
  container.replaceChildren(h("section", { class: "panel", id: "stats" }, h("h2", {}, t("Statistics")), form, holder));
  await load();
}
