// batchplane console: a single-file, build-free app over the batchplane HTTP API.
// Views (hash routes): #/jobs, #/jobs/<id>, #/pipelines, #/pipelines/<id>, #/queues, #/costs.
// Live: the current view refreshes every POLL_MS while the tab is visible (nothing else polls).
// Optional API parts (cost fields, GET /quotas, GET /costs, a job's `waiting`) are shown when the API has them.
"use strict";

(() => {
  const POLL_MS = 2000;
  const MAX_LOG_LINES = 2000;
  const MAX_GRAPH_NODES = 1500; // a larger pipeline is listed in its table, not drawn (a layout would stall the page)
  const TERMINAL = new Set(["SUCCEEDED", "FAILED", "CANCELLED", "SKIPPED"]);
  // The status filter's choices: the API's own JobStatus enum (from its /openapi.json) when it answers, else these.
  let STATUSES = ["SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"];
  const PRIORITIES = ["low", "normal", "high", "urgent"];
  // Fill and stroke per state, as the API's Mermaid and DOT graphs colour them (domain/pipeline_runs.py).
  const COLOURS = {
    WAITING: ["#f5f5f5", "#6e7781"], SUBMITTED: ["#e3f2fd", "#1565c0"], PENDING: ["#e3f2fd", "#1565c0"],
    RUNNABLE: ["#e3f2fd", "#1565c0"], QUEUED: ["#e3f2fd", "#1565c0"], STARTING: ["#bbdefb", "#0d47a1"],
    RUNNING: ["#bbdefb", "#0d47a1"], SUCCEEDED: ["#c8e6c9", "#1b5e20"], FAILED: ["#ffcdd2", "#b71c1c"],
    SKIPPED: ["#eeeeee", "#57606a"], CANCELLED: ["#ffe0b2", "#8a4b00"],
  };

  const DONE = Symbol("done"); // what a view's refresh answers once what it shows can no longer change
  const app = { config: null, poll: null, busy: false, failed: false, tenantFilter: false, graphs: {}, seq: 0, routed: false };
  window.batchplaneConsole = app; // for the browser tests and the curious: the live graphs are app.graphs

  // -- small helpers -------------------------------------------------------------------------------------------
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else if (key === "text") el.textContent = value;
      else el.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }
  const badge = (status) => h("span", { class: `badge s-${String(status || "waiting").toLowerCase()}` }, status || "—");
  const time = (iso) => (iso ? h("time", { datetime: iso, title: iso }, new Date(iso).toLocaleString()) : "—");
  const jobLink = (id, text) => h("a", { href: `#/jobs/${encodeURIComponent(id)}`, "data-focus-key": `job:${id}` }, text || id);
  const pipelineLink = (id, text) => h("a", { href: `#/pipelines/${encodeURIComponent(id)}`, "data-focus-key": `pipe:${id}` }, text || id);
  const announce = (text) => { document.getElementById("announce").textContent = text; };
  const main = () => document.getElementById("main");
  const problemText = (r) => {
    const d = r.data || {};
    const fields = (d.errors || []).map((e) => `${e.field}: ${e.message}`).join("; ");
    return `${r.status || "network"} ${d.title || d.message || "error"}${d.detail ? `: ${d.detail}` : ""}${fields ? ` (${fields})` : ""}`;
  };
  const errorBox = (r) => h("p", { class: "error", role: "alert" }, problemText(r));

  // Re-render part of the page without losing the keyboard focus of a link or button that is rendered again.
  function keepFocus(render) {
    const key = document.activeElement && document.activeElement.getAttribute("data-focus-key");
    render();
    if (key) {
      const again = document.querySelector(`[data-focus-key="${CSS.escape(key)}"]`);
      if (again) again.focus();
    }
  }

  // -- the API ------------------------------------------------------------------------------------------------
  async function api(path, options = {}) {
    const headers = { Accept: "application/json, application/problem+json", [app.config.consoleHeader]: "1" };
    const tenant = localStorage.getItem("batchplane.tenant");
    if (app.config.tenantHeader && tenant) headers["X-Batchplane-Tenant"] = tenant;
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    try {
      const response = await fetch(app.config.apiBase + path, {
        method: options.method || "GET",
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
      });
      if (response.status >= 500) app.failed = true;
      const type = response.headers.get("content-type") || "";
      const data = type.includes("json") ? await response.json() : await response.text();
      return { ok: response.ok, status: response.status, data };
    } catch (error) {
      app.failed = true;
      return { ok: false, status: 0, data: { title: "cannot reach the API", detail: String(error) } };
    }
  }
  const query = (params) => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") q.set(k, v);
    const s = q.toString();
    return s ? `?${s}` : "";
  };

  // -- money and optional fields -------------------------------------------------------------------------------
  // An amount as the API gives it: a decimal string (shown as it is: a job's cost may be millionths) or a number.
  function money(amount, currency) {
    if (typeof amount === "string" && amount.trim() !== "" && Number.isFinite(Number(amount))) return `${amount} ${currency || "USD"}`;
    if (typeof amount !== "number" || !Number.isFinite(amount)) return "—";
    return `${amount.toFixed(Math.abs(amount) < 1 ? 6 : 2)} ${currency || "USD"}`;
  }
  const amountNumber = (value) => (Number.isFinite(Number(value)) ? Number(value) : 0);
  function costFacts(cost) {
    if (!cost || typeof cost !== "object") {
      return h("p", { class: "muted", "data-testid": "cost-absent" }, "No cost estimate: this API does not report costs.");
    }
    const basis = typeof cost.basis === "string" ? cost.basis : JSON.stringify(cost.basis || "");
    return h("dl", { class: "facts", "data-testid": "cost" },
      h("dt", {}, "Estimated cost"), h("dd", { "data-testid": "cost-amount" }, money(cost.amount, cost.currency)),
      h("dt", {}, "Wasted"), h("dd", {}, money(cost.wasted, cost.currency)),
      h("dt", {}, "Basis"), h("dd", { class: "muted" }, basis || "—"));
  }
  function plain(value) {
    if (value === null || value === undefined) return "—";
    if (typeof value === "object") {
      if (typeof value.used === "number" && typeof value.limit === "number") return meter(value.used, value.limit);
      if ("amount" in value) return money(value.amount, value.currency);
      return h("code", {}, JSON.stringify(value));
    }
    return String(value);
  }
  function meter(used, limit) {
    const share = limit > 0 ? Math.min(used / limit, 1) : 1;
    return h("span", { class: "usage" },
      h("span", { class: `meter${used >= limit ? " over" : ""}`, role: "img", "aria-label": `${used} of ${limit}` },
        h("span", { style: `width:${(share * 100).toFixed(1)}%` })),
      ` ${used} / ${limit}`);
  }
  // A table of objects whose shape this console does not know (quotas, costs from a newer API): every scalar column.
  function genericTable(items, caption) {
    const columns = [...new Set(items.flatMap((item) => Object.keys(item)))];
    return h("table", {},
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, items.map((item) => h("tr", {}, columns.map((c) => h("td", {}, plain(item[c])))))));
  }
  const firstArray = (data) => (Array.isArray(data) ? data : Object.values(data || {}).find(Array.isArray) || []);

  // -- graphs (Cytoscape) --------------------------------------------------------------------------------------
  function nodeData(id, label, state, extra) {
    const [fill, stroke] = COLOURS[state] || COLOURS.WAITING;
    const lines = label.split("\n");
    const w = Math.max(70, 7.2 * Math.max(...lines.map((l) => l.length)) + 18);
    return { id, label, state, fill, stroke, w, h: 16 * lines.length + 14, ...extra };
  }
  function drawGraph(name, container, nodes, edges, onOpen) {
    if (app.graphs[name]) app.graphs[name].destroy();
    const targets = new Set(edges.map((e) => e.data.target));
    const cy = window.cytoscape({
      container,
      elements: [...nodes.map((data) => ({ data })), ...edges],
      style: [
        { selector: "node", style: {
          shape: "round-rectangle", label: "data(label)", "text-wrap": "wrap", "text-valign": "center",
          "text-halign": "center", width: "data(w)", height: "data(h)", "font-size": 11, color: "#1f2328",
          "background-color": "data(fill)", "border-color": "data(stroke)", "border-width": 2 } },
        { selector: "node:selected", style: { "border-width": 4, "border-color": "#bf3989" } },
        { selector: "edge", style: {
          width: 1.5, "line-color": "#8c959f", "target-arrow-color": "#8c959f", "target-arrow-shape": "triangle",
          "curve-style": "bezier", label: "data(label)", "font-size": 9, color: "#57606a",
          "line-style": "data(lineStyle)" } },
      ],
      layout: { name: "breadthfirst", directed: true, padding: 12, spacingFactor: 1.05,
        // a selector string: Cytoscape ignores an array of selectors and lays every node out as a root
        roots: nodes.filter((n) => !targets.has(n.id)).map((n) => `#${CSS.escape(n.id)}`).join(", ") || undefined },
      wheelSensitivity: 0.3,
    });
    if (onOpen) cy.on("tap", "node", (event) => onOpen(event.target.data()));
    app.graphs[name] = cy;
    return cy;
  }
  function recolour(cy, states) {
    cy.batch(() => {
      for (const [id, { state, label }] of Object.entries(states)) {
        const node = cy.getElementById(id);
        if (node.empty() || node.data("state") === state) continue;
        const [fill, stroke] = COLOURS[state] || COLOURS.WAITING;
        node.data({ state, fill, stroke, label });
      }
    });
  }
  // The pipeline's edges from its Graphviz DOT (GET /pipelines/{id}/graph?format=dot): "up" -> "down" [label=...].
  function dotEdges(dot) {
    const edges = [];
    const re = /^\s*"((?:[^"\\]|\\.)*)" -> "((?:[^"\\]|\\.)*)"(?: \[label="([^"]*)")?/gm;
    const unquote = (s) => s.replace(/\\(.)/g, "$1");
    for (const m of String(dot).matchAll(re)) {
      const [source, target] = [unquote(m[1]), unquote(m[2])];
      edges.push({ data: { id: `${source}->${target}`, source, target, label: m[3] || "",
        lineStyle: m[3] ? "dashed" : "solid" } });
    }
    return edges;
  }

  // -- views: jobs --------------------------------------------------------------------------------------------
  async function jobsView(params) {
    const filters = { status: params.get("status") || "", priority: params.get("priority") || "",
      pipeline: params.get("pipeline") || "", name: params.get("name") || "", tenant: params.get("tenant") || "" };
    const apply = (event) => {
      event.preventDefault();
      const form = new FormData(event.currentTarget.form || event.currentTarget);
      const next = new URLSearchParams();
      for (const [k, v] of form.entries()) if (v) next.set(k, v);
      location.hash = `#/jobs${next.toString() ? `?${next}` : ""}`;
    };
    const select = (name, label, values) => h("label", {}, label,
      h("select", { name, onchange: apply },
        h("option", { value: "" }, "any"),
        values.map((v) => h("option", { value: v, selected: v === filters[name] }, v))));
    const tbody = h("tbody", {});
    const status = h("p", { class: "muted", "aria-live": "polite" });
    main().replaceChildren(
      h("h1", {}, "Jobs"),
      h("form", { class: "filters", role: "search", "aria-label": "Filter jobs", onsubmit: apply },
        select("status", "Status", STATUSES),
        select("priority", "Priority", PRIORITIES),
        h("label", {}, "Pipeline id", h("input", { name: "pipeline", value: filters.pipeline, size: 20 })),
        h("label", {}, "Name", h("input", { name: "name", value: filters.name, size: 16 })),
        app.tenantFilter ? h("label", {}, "Owner tenant", h("input", { name: "tenant", value: filters.tenant, size: 16 })) : null,
        h("button", { type: "submit" }, "Apply")),
      h("table", { "data-testid": "jobs" },
        h("caption", {}, "Newest first; refreshed every few seconds"),
        h("thead", {}, h("tr", {}, ["Name", "Status", "Priority", "Queue", "Pipeline", "Created"].map((c) => h("th", { scope: "col" }, c)))),
        tbody),
      status);
    return async () => {
      const tenant = app.tenantFilter ? filters.tenant : "";
      const r = await api(`/jobs${query({ status: filters.status, name: filters.name, tenant, limit: 100 })}`);
      if (!r.ok) { status.replaceChildren(errorBox(r)); return; }
      const jobs = (r.data.jobs || []).filter((j) =>
        (!filters.priority || j.priority === filters.priority) && (!filters.pipeline || j.pipelineId === filters.pipeline));
      keepFocus(() => tbody.replaceChildren(...jobs.map((j) => h("tr", { "data-job-id": j.jobId },
        h("td", {}, jobLink(j.jobId, j.name)), h("td", { "data-testid": "status" }, badge(j.status)),
        h("td", {}, j.priority), h("td", {}, j.queue),
        h("td", {}, j.pipelineId ? pipelineLink(j.pipelineId) : "—"), h("td", {}, time(j.createdAt))))));
      status.textContent = `${jobs.length} job${jobs.length === 1 ? "" : "s"}${r.data.nextToken ? " (the newest 100 only)" : ""}`;
    };
  }

  // The API's `waiting` (GET /jobs/{id}: hold, reason, ahead, then the hold's details) as a sentence and its facts.
  function waitingFacts(w) {
    const facts = [];
    const add = (label, value) => facts.push(h("dt", {}, label), h("dd", {}, value));
    if (w.hold) add("Hold", h("code", {}, w.hold));
    if (typeof w.ahead === "number" && w.ahead > 0) add("Ahead of it", String(w.ahead));
    for (const [key, value] of Object.entries(w)) {
      if (["hold", "reason", "ahead", "waitingOn"].includes(key) || value === null || value === undefined) continue;
      if (key === "dependencies" && Array.isArray(value)) {
        add("Dependencies", value.map((d) => [jobLink(d.jobId), ` ${d.status} `]));
      } else add(key, /At$|^since$/.test(key) && typeof value === "string" ? time(value) : plain(value));
    }
    return facts.length ? h("dl", { class: "facts", "data-testid": "waiting" }, facts) : "";
  }

  function whyWaiting(job) {
    if (job.waiting) {
      const w = job.waiting;
      const reason = typeof w === "string" ? w : w.reason || JSON.stringify(w);
      return reason.charAt(0).toUpperCase() + reason.slice(1) + (/[.!?]$/.test(reason) ? "" : ".");
    }
    const attempts = job.attempts || [];
    const last = attempts[attempts.length - 1] || {};
    if (TERMINAL.has(job.status)) return `Not waiting: it ended ${job.status}.`;
    if (job.status === "QUEUED") return "Queued by batchplane's admission (quotas, fair share): not yet handed to AWS Batch.";
    if (job.status === "RUNNING") return "Not waiting: it is running.";
    if (job.status === "STARTING") return "Placed on an instance; its container is starting.";
    if (job.status === "RUNNABLE") {
      return `RUNNABLE in ${job.queue}: waiting for capacity in its compute environment${last.statusReason ? ` (${last.statusReason})` : ""}.`;
    }
    if (job.status === "PENDING" && (job.dependsOn || []).length) return `Held for its dependencies: ${job.dependsOn.map((d) => d.jobId).join(", ")}.`;
    if (last.explanation) return last.explanation;
    if (job.status === "PENDING" && !last.batchJobId) return "Waiting out a retry's backoff, or to be handed to AWS Batch.";
    return "Accepted; waiting for AWS Batch to evaluate it.";
  }

  function timeline(job) {
    const attempts = job.attempts || [];
    if (!attempts.length) return h("p", { class: "muted" }, "No attempt yet.");
    const ms = (iso) => (iso ? Date.parse(iso) : null);
    const start = Math.min(...attempts.map((a) => ms(a.createdAt) || ms(job.createdAt) || Date.now()));
    const end = Math.max(TERMINAL.has(job.status) ? start : Date.now(),
      ...attempts.map((a) => ms(a.stoppedAt) || ms(a.startedAt) || ms(a.createdAt) || start), start + 1);
    const pos = (t) => `${(((t - start) / (end - start)) * 100).toFixed(2)}%`;
    const rows = attempts.flatMap((a) => {
      const created = ms(a.createdAt) || start;
      const started = ms(a.startedAt);
      const stopped = ms(a.stoppedAt) || (TERMINAL.has(a.status) ? started || created : end);
      const segments = [h("span", { class: "seg wait", style: `left:${pos(created)};width:calc(${pos(started || stopped)} - ${pos(created)})` })];
      if (started) segments.push(h("span", { class: `seg run s-${a.status.toLowerCase()}`, style: `left:${pos(started)};width:calc(${pos(stopped)} - ${pos(started)})` }));
      const words = `attempt ${a.attempt} (${a.reason}, ${a.capacity}, ${a.queue}): ${a.status}` +
        `${a.exitCode !== null && a.exitCode !== undefined ? `, exit ${a.exitCode}` : ""}` +
        `${a.failureClass ? `, ${a.failureClass}` : ""}${a.statusReason ? ` — ${a.statusReason}` : ""}`;
      return [h("div", { title: words }, `a${a.attempt} `, badge(a.status), h("span", { class: "muted" }, ` ${a.reason} · ${a.capacity}`)),
        h("div", { class: "track", role: "img", "aria-label": words }, segments)];
    });
    return h("div", {},
      h("div", { class: "timeline", "data-testid": "timeline" }, rows,
        h("div", { class: "axis", "aria-hidden": "true" }, h("span", {}, new Date(start).toLocaleTimeString()), h("span", {}, new Date(end).toLocaleTimeString()))),
      h("p", { class: "muted" }, "Hatched: waiting (submitted to started); solid: running."));
  }

  async function jobView(id) {
    const head = h("div", {});
    const why = h("p", { "data-testid": "why" });
    const held = h("div", {});
    const cost = h("div", {});
    const times = h("div", {});
    const lineage = h("div", { class: "graph small", role: "img", "aria-label": "lineage graph" });
    const logs = h("pre", { class: "logs", tabindex: "0", "aria-label": "log tail", "data-testid": "logs" });
    main().replaceChildren(
      h("p", {}, h("a", { href: "#/jobs" }, "← Jobs")), head,
      h("h2", {}, "Why it waits"), why, held,
      h("h2", {}, "Cost"), cost,
      h("h2", {}, "Attempts"), times,
      h("div", { class: "cols" },
        h("section", { "aria-labelledby": "lineage-h" }, h("h2", { id: "lineage-h" }, "Lineage"), lineage),
        h("section", { "aria-labelledby": "logs-h" }, h("h2", { id: "logs-h" }, "Log tail"), logs)));
    let last = null;
    let logToken = null;
    let logAttempt = null;
    let lineageKey = null;
    return async () => {
      const r = await api(`/jobs/${encodeURIComponent(id)}`);
      if (!r.ok) { head.replaceChildren(h("h1", {}, `Job ${id}`), errorBox(r)); return; }
      const job = r.data;
      if (last && last.status !== job.status) announce(`${job.name} is now ${job.status}`);
      last = job;
      const cancel = TERMINAL.has(job.status) ? null : h("button", { type: "button", "data-focus-key": "cancel", onclick: async () => {
        const c = await api(`/jobs/${encodeURIComponent(id)}/cancel`, { method: "POST", body: {} });
        announce(c.ok ? `cancel requested: ${c.data.action}` : problemText(c));
      } }, "Cancel job");
      keepFocus(() => head.replaceChildren(
        h("h1", {}, `${job.name} `, h("span", { "data-testid": "job-status" }, badge(job.status))),
        h("dl", { class: "facts" },
          h("dt", {}, "Job id"), h("dd", { class: "mono" }, job.jobId),
          h("dt", {}, "Priority · capacity"), h("dd", {}, `${job.priority} · ${job.capacity}`),
          h("dt", {}, "Queue"), h("dd", {}, job.queue, h("span", { class: "muted" }, ` — ${job.placementReason}`)),
          job.statusReason ? [h("dt", {}, "Status reason"), h("dd", {}, job.statusReason)] : null,
          h("dt", {}, "Created · updated"), h("dd", {}, time(job.createdAt), " · ", time(job.updatedAt)),
          h("dt", {}, "Origin"), h("dd", {}, job.origin || "—"),
          job.pipelineId ? [h("dt", {}, "Pipeline"), h("dd", {}, pipelineLink(job.pipelineId))] : null,
          (job.dependsOn || []).length ? [h("dt", {}, "Depends on"), h("dd", {}, job.dependsOn.map((d) => [jobLink(d.jobId), " "]))] : null,
          Object.keys(job.tags || {}).length ? [h("dt", {}, "Tags"), h("dd", {}, Object.entries(job.tags).map(([k, v]) => `${k}=${v}`).join(", "))] : null),
        cancel || ""));
      why.textContent = whyWaiting(job);
      keepFocus(() => held.replaceChildren(job.waiting && typeof job.waiting === "object" ? waitingFacts(job.waiting) : ""));
      cost.replaceChildren(costFacts(job.cost));
      times.replaceChildren(timeline(job));
      const key = `${job.status}:${(job.attempts || []).map((a) => a.status).join(",")}`;
      if (key !== lineageKey) {
        lineageKey = key;
        const g = await api(`/jobs/${encodeURIComponent(id)}/lineage`);
        if (g.ok && window.cytoscape) {
          const nodes = g.data.nodes.map((n) => nodeData(n.id, n.kind === "attempt" ? `${n.label} ${n.reason}\n${n.status}` : String(n.label).slice(0, 48), n.status || (n.kind === "artifact" ? "WAITING" : "SUBMITTED"), { kind: n.kind }));
          const edges = g.data.edges.map((e, i) => ({ data: { id: `e${i}`, source: e.from, target: e.to, label: e.kind, lineStyle: e.kind === "replaces" ? "dashed" : "solid" } }));
          lineage.setAttribute("aria-label", `lineage graph: ${nodes.length} nodes, ${edges.length} edges`);
          drawGraph("lineage", lineage, nodes, edges, null);
        }
      }
      const l = await api(`/jobs/${encodeURIComponent(id)}/logs${query({ limit: 500, nextToken: logToken })}`);
      if (l.ok) {
        if (logAttempt !== null && l.data.attempt !== logAttempt) logs.append(`— attempt ${l.data.attempt} —\n`);
        logAttempt = l.data.attempt;
        logToken = l.data.nextToken || logToken;
        const lines = l.data.lines || [];
        if (lines.length) {
          const stick = logs.scrollTop + logs.clientHeight >= logs.scrollHeight - 4;
          if (logs.dataset.empty) { logs.textContent = ""; delete logs.dataset.empty; }
          logs.append(lines.join("\n") + "\n");
          const all = logs.textContent.split("\n");
          if (all.length > MAX_LOG_LINES) logs.textContent = all.slice(-MAX_LOG_LINES).join("\n");
          if (stick) logs.scrollTop = logs.scrollHeight;
        } else if (!logs.textContent) {
          logs.textContent = job.attempts.length ? "(no output yet)" : "(no attempt yet)";
          logs.dataset.empty = "1";
        }
      }
      // an ended job whose every log line is read will not change: stop asking
      return TERMINAL.has(job.status) && l.ok && !l.data.more ? DONE : undefined;
    };
  }

  // -- views: pipelines -----------------------------------------------------------------------------------------
  const countStates = (jobs) => Object.entries(jobs.reduce((acc, j) => ({ ...acc, [j.state]: (acc[j.state] || 0) + 1 }), {}))
    .map(([s, n]) => `${n} ${s}`).join(", ");

  async function pipelinesView() {
    const tbody = h("tbody", {});
    const status = h("div", {});
    main().replaceChildren(h("h1", {}, "Pipelines"),
      h("table", { "data-testid": "pipelines" }, h("caption", {}, "Newest first; refreshed every few seconds"),
        h("thead", {}, h("tr", {}, ["Name", "Status", "Run", "Jobs", "Created"].map((c) => h("th", { scope: "col" }, c)))), tbody),
      status);
    return async () => {
      const r = await api("/pipelines?limit=50");
      if (!r.ok) { status.replaceChildren(errorBox(r)); return; }
      status.replaceChildren();
      keepFocus(() => tbody.replaceChildren(...(r.data.pipelines || []).map((p) => h("tr", {},
        h("td", {}, pipelineLink(p.pipelineId, p.name)), h("td", {}, badge(p.status)), h("td", { class: "num" }, p.run),
        // the list carries no job's state (GET /pipelines/{id} does): how many jobs, each state on the pipeline's page
        h("td", {}, (p.jobs || []).length ? countStates(p.jobs) : `${p.jobCount ?? "?"} jobs`),
        h("td", {}, time(p.createdAt))))));
    };
  }

  async function pipelineView(id) {
    const head = h("div", {});
    const graph = h("div", { class: "graph", role: "img", "aria-label": "pipeline DAG", "data-testid": "dag" });
    const tbody = h("tbody", {});
    const cost = h("div", {});
    main().replaceChildren(h("p", {}, h("a", { href: "#/pipelines" }, "← Pipelines")), head,
      h("h2", {}, "DAG"), h("p", { class: "muted" }, "Coloured by state, live. Select a job to open it; the table below lists the same jobs."), graph,
      h("h2", {}, "Jobs"),
      h("table", { "data-testid": "pipeline-jobs" }, h("caption", {}, "The pipeline's jobs and their states"),
        h("thead", {}, h("tr", {}, ["Job", "State", "Managed job"].map((c) => h("th", { scope: "col" }, c)))), tbody),
      h("h2", {}, "Cost"), cost);
    let shape = null;
    let last = null;
    let current = [];
    return async () => {
      const r = await api(`/pipelines/${encodeURIComponent(id)}`);
      if (!r.ok) { head.replaceChildren(h("h1", {}, `Pipeline ${id}`), errorBox(r)); return; }
      const p = r.data;
      if (last && last !== p.status) announce(`pipeline ${p.name} is now ${p.status}`);
      last = p.status;
      head.replaceChildren(h("h1", {}, `${p.name} `, badge(p.status)),
        h("dl", { class: "facts" }, h("dt", {}, "Pipeline id"), h("dd", { class: "mono" }, p.pipelineId),
          h("dt", {}, "Run · on failure"), h("dd", {}, `${p.run} · ${p.onFailure}`),
          h("dt", {}, "Created · updated"), h("dd", {}, time(p.createdAt), " · ", time(p.updatedAt)),
          h("dt", {}, "Jobs"), h("dd", {}, countStates(p.jobs || []))));
      const jobs = p.jobs || [];
      current = jobs;
      keepFocus(() => tbody.replaceChildren(...jobs.map((j) => h("tr", { "data-node": j.id },
        h("td", {}, j.id), h("td", { "data-testid": "state" }, badge(j.state)), h("td", {}, j.jobId ? jobLink(j.jobId) : "—")))));
      cost.replaceChildren(costFacts(p.cost));
      const states = Object.fromEntries(jobs.map((j) => [j.id, { state: j.state, label: `${j.id}\n${j.state}` }]));
      const key = jobs.map((j) => j.id).sort().join("|");
      if (jobs.length > MAX_GRAPH_NODES) {
        if (key !== shape) graph.replaceChildren(h("p", { class: "note" }, `${jobs.length} jobs: too many to draw here; the table below lists them all.`));
        shape = key;
      } else if (key !== shape && window.cytoscape) {
        const g = await api(`/pipelines/${encodeURIComponent(id)}/graph${query({ format: "dot" })}`);
        const edges = g.ok ? dotEdges(g.data) : [];
        const nodes = jobs.map((j) => nodeData(j.id, `${j.id}\n${j.state}`, j.state, { jobId: j.jobId }));
        const known = new Set(nodes.map((n) => n.id));
        const kept = edges.filter((e) => known.has(e.data.source) && known.has(e.data.target));
        drawGraph("pipeline", graph, nodes, kept, (data) => {
          const job = current.find((j) => j.id === data.id); // the latest answer: a job gets its jobId when it starts
          if (job && job.jobId) location.hash = `#/jobs/${encodeURIComponent(job.jobId)}`;
        });
        graph.setAttribute("aria-label", `pipeline DAG: ${nodes.length} jobs, ${kept.length} dependencies`);
        graph.dataset.nodes = String(nodes.length);
        graph.dataset.edges = String(kept.length);
        shape = key;
      } else if (app.graphs.pipeline) recolour(app.graphs.pipeline, states);
      // an ended pipeline will not change unless it is resumed (a new run): reload the page to follow that
      return TERMINAL.has(p.status) && jobs.every((j) => TERMINAL.has(j.state)) ? DONE : undefined;
    };
  }

  // -- views: queues, quotas, costs -----------------------------------------------------------------------------
  async function queuesView() {
    const queues = h("div", {});
    const quotas = h("div", {});
    main().replaceChildren(h("h1", {}, "Queues & quotas"), h("h2", {}, "Queue classes"), queues,
      h("h2", {}, "Tenants' usage against quotas"), quotas);
    return async () => {
      const q = await api("/queues");
      queues.replaceChildren(q.ok ? h("table", { "data-testid": "queues" }, h("caption", {}, "Each priority class × capacity type is one AWS Batch job queue"),
        h("thead", {}, h("tr", {}, ["Priority", "Capacity", "Queue", "Max vCPUs", "Max memory (MiB)", "Max GPUs", "Multi-node"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, (q.data.queues || []).map((x) => h("tr", {}, h("td", {}, x.priority), h("td", {}, x.capacity), h("td", { class: "mono" }, x.queue),
          h("td", { class: "num" }, x.maxVcpus), h("td", { class: "num" }, x.maxMemoryMiB), h("td", { class: "num" }, x.maxGpus), h("td", {}, x.multiNode ? "yes" : "no"))))) : errorBox(q));
      const u = await api("/quotas");
      if (u.ok) {
        const items = firstArray(u.data);
        quotas.replaceChildren(items.length ? genericTable(items, "Usage against quota, by tenant") : h("pre", { class: "mono" }, JSON.stringify(u.data, null, 2)));
      } else if ([403, 404, 405].includes(u.status)) {
        quotas.replaceChildren(h("p", { class: "note" }, u.status === 403 ? "Quotas are visible to administrators only." : "This API has no GET /quotas: quotas are not deployed here."));
      } else quotas.replaceChildren(errorBox(u));
    };
  }

  async function costsView(params) {
    const groupBy = params.get("groupBy") || "day";
    const out = h("div", {});
    const apply = (event) => {
      event.preventDefault();
      const form = new FormData(event.currentTarget.form || event.currentTarget);
      const next = new URLSearchParams();
      for (const [k, v] of form.entries()) if (v) next.set(k, v);
      location.hash = `#/costs?${next}`;
    };
    main().replaceChildren(h("h1", {}, "Costs"),
      h("form", { class: "filters", "aria-label": "Cost report", onsubmit: apply },
        h("label", {}, "Group by", h("select", { name: "groupBy", onchange: apply },
          ["day", "tenant", "queue", "priority"].map((g) => h("option", { value: g, selected: g === groupBy }, g)))),
        h("label", {}, "From", h("input", { type: "date", name: "from", value: params.get("from") || "" })),
        h("label", {}, "To", h("input", { type: "date", name: "to", value: params.get("to") || "" })),
        h("button", { type: "submit" }, "Show")),
      out);
    return async () => {
      const r = await api(`/costs${query({ groupBy, from: params.get("from"), to: params.get("to") })}`);
      if (!r.ok) {
        out.replaceChildren([404, 405].includes(r.status) ? h("p", { class: "note" }, "This API has no GET /costs: cost reporting is not deployed here.") : errorBox(r));
        return;
      }
      const items = firstArray(r.data);
      const keyOf = (g) => g.key ?? g.group ?? g[groupBy] ?? Object.values(g).find((v) => typeof v === "string") ?? "?";
      const amountOf = (g) => amountNumber(g.amount ?? (g.cost && g.cost.amount));
      const wastedOf = (g) => amountNumber(g.wasted ?? (g.cost && g.cost.wasted));
      const shownOf = (g, key) => g[key] ?? (g.cost && g.cost[key]);
      const currency = r.data.currency || (items[0] && (items[0].currency || (items[0].cost && items[0].cost.currency))) || "USD";
      const top = Math.max(...items.map(amountOf), 1e-9);
      const d = r.data;
      out.replaceChildren(
        "amount" in d ? h("p", { "data-testid": "cost-total" }, `Total ${money(d.amount, currency)}, of which wasted ${money(d.wasted, currency)}`,
          d.from && d.to ? ` (${d.from} to ${d.to}${d.everyTenant ? ", every tenant" : ""})` : "") : "",
        d.basis ? h("p", { class: "muted" }, d.basis) : "",
        items.length ? h("div", { class: "bars", "data-testid": "cost-bars" }, items.flatMap((g) => [
          h("span", {}, String(keyOf(g))),
          h("span", { role: "img", "aria-label": `${keyOf(g)}: ${money(shownOf(g, "amount"), currency)}, wasted ${money(shownOf(g, "wasted"), currency)}` },
            h("span", { class: "bar", style: `display:block;width:${((amountOf(g) / top) * 100).toFixed(1)}%` }),
            h("span", { class: "bar wasted", style: `display:block;width:${((wastedOf(g) / top) * 100).toFixed(1)}%;height:.4em;margin-top:2px` })),
          h("span", { class: "num" }, money(shownOf(g, "amount"), currency))])) : h("p", { class: "muted" }, "No costs in this period."),
        items.length ? genericTable(items, `Costs by ${groupBy} (red: wasted)`) : "");
    };
  }

  // -- router and the live loop ---------------------------------------------------------------------------------
  const routes = [
    [/^\/jobs\/([^/]+)$/, (m) => jobView(decodeURIComponent(m[1])), "jobs"],
    [/^\/jobs$/, (m, p) => jobsView(p), "jobs"],
    [/^\/pipelines\/([^/]+)$/, (m) => pipelineView(decodeURIComponent(m[1])), "pipelines"],
    [/^\/pipelines$/, () => pipelinesView(), "pipelines"],
    [/^\/queues$/, () => queuesView(), "queues"],
    [/^\/costs$/, (m, p) => costsView(p), "costs"],
  ];

  async function route() {
    const seq = ++app.seq;
    app.poll = null;
    document.getElementById("live").classList.remove("done");
    for (const cy of Object.values(app.graphs)) cy.destroy();
    app.graphs = {};
    const [path, search] = (location.hash.replace(/^#/, "") || "/jobs").split("?");
    const params = new URLSearchParams(search || "");
    const found = routes.map(([re, view, section]) => [path.match(re), view, section]).find(([m]) => m);
    for (const a of document.querySelectorAll("nav a")) {
      if (found && a.dataset.section === found[2]) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    if (!found) { main().replaceChildren(h("h1", {}, "Not found"), h("p", {}, h("a", { href: "#/jobs" }, "Jobs"))); return; }
    const refresh = await found[1](found[0], params);
    document.title = `${main().querySelector("h1")?.textContent || "batchplane"} · batchplane console`;
    if (seq !== app.seq) return;
    app.poll = refresh;
    await tick(true);
    // after a navigation (not the first load) the keyboard focus moves to the new view, as a page load would put it
    if (app.routed && (document.activeElement === document.body || !document.activeElement)) main().focus();
    app.routed = true;
  }

  async function tick(force) {
    if (!app.poll || app.busy || (!force && document.hidden)) return;
    app.busy = true;
    const live = document.getElementById("live");
    try {
      const poll = app.poll;
      app.failed = false;
      const outcome = await poll();
      live.classList.remove("stale", "done");
      live.classList.toggle("stale", app.failed);
      live.title = app.failed ? "the API did not answer: retrying" : `updated ${new Date().toLocaleTimeString()}`;
      if (outcome === DONE && app.poll === poll) {
        app.poll = null;
        live.classList.add("done");
        live.title += ": it has ended, no longer refreshed";
      }
    } catch (error) {
      live.classList.add("stale");
      console.error(error);
    } finally {
      app.busy = false;
    }
  }

  async function start() {
    const r = await fetch("config.json");
    app.config = await r.json();
    document.getElementById("api-url").textContent = app.config.mode === "local" ? "local stack" : app.config.apiUrl;
    if (app.config.tenantHeader) {
      const box = document.getElementById("tenant-box");
      const input = document.getElementById("tenant");
      box.hidden = false;
      input.value = localStorage.getItem("batchplane.tenant") || "";
      input.addEventListener("change", () => {
        if (input.value.trim()) localStorage.setItem("batchplane.tenant", input.value.trim());
        else localStorage.removeItem("batchplane.tenant");
        route();
      });
    }
    const spec = await api("/openapi.json");
    const known = spec.ok && spec.data.components && spec.data.components.schemas && spec.data.components.schemas.JobStatus;
    if (known && Array.isArray(known.enum) && known.enum.length) STATUSES = known.enum;
    // Other tenants' jobs: only where the API offers GET /jobs?tenant= (administrators, issue #10); it decides who may.
    const listing = spec.ok && spec.data.paths && spec.data.paths["/jobs"] && spec.data.paths["/jobs"].get;
    app.tenantFilter = Boolean(listing && (listing.parameters || []).some((p) => p.name === "tenant" && p.in === "query"));
    window.addEventListener("hashchange", route);
    setInterval(() => tick(false), POLL_MS);
    await route();
  }

  start();
})();
