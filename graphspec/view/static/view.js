/* graphspec view: draws the graph model embedded in the page (see graphspec/view/model.py)
 * with dagre's layered layout, and keeps it live when the page is served.
 * Every name, argument and message is put in the page with textContent or setAttribute:
 * nothing from the spec is ever parsed as HTML. */
(function () {
  "use strict";

  var SVGNS = "http://www.w3.org/2000/svg";
  var EXPAND_ALL_UP_TO = 60; // nodes: smaller graphs start with every block open
  var EXPAND_ALL_MAX = 2000; // boxes that "expand all" may show at once
  var CHAR = 7.2, LINE = 15, PAD = 12;

  var model = null;           // the model drawn
  var index = null;           // lookups derived from it (see indexModel)
  var expanded = new Set();   // ids of open clusters
  var selected = null;        // id of the selected node
  var currentDiag = -1;
  var view = { x: 0, y: 0, scale: 1 };
  var drawn = null;           // positions of what is on screen: id -> {x, y, width, height}
  var stale = false;
  var metrics = { draws: [], version: null };
  window.graphspecView = metrics;

  var $ = function (id) { return document.getElementById(id); };
  var svg = $("graph"), viewport = $("viewport"), panel = $("details"), diagBox = $("diagnostics");

  // -- DOM helpers: text only --------------------------------------------------------------
  function h(tag, attrs, children) {
    var el = document.createElement(tag);
    setAll(el, attrs);
    (children || []).forEach(function (c) {
      if (c !== null && c !== undefined) el.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return el;
  }
  function s(tag, attrs, text) {
    var el = document.createElementNS(SVGNS, tag);
    setAll(el, attrs);
    if (text !== undefined) el.textContent = text;
    return el;
  }
  function setAll(el, attrs) {
    for (var k in attrs || {}) {
      if (k === "text") el.textContent = attrs[k];
      else if (attrs[k] !== null && attrs[k] !== undefined) el.setAttribute(k, String(attrs[k]));
    }
  }

  // -- formatting ---------------------------------------------------------------------------
  function num(v) { return v === null || v === undefined ? "?" : Number(v).toLocaleString("en-US"); }
  function si(v) {
    if (v === null || v === undefined) return "?";
    var units = ["", "K", "M", "G", "T"], i = 0;
    while (Math.abs(v) >= 1000 && i < units.length - 1) { v /= 1000; i++; }
    return (i ? v.toFixed(2) : String(v)) + units[i];
  }
  function shapeText(shape) {
    return "(" + shape.map(function (d) { return d === null ? "None" : String(d); }).join(", ") + ")";
  }
  function valueText(v) { return typeof v === "string" ? v : JSON.stringify(v); }

  // -- the model ----------------------------------------------------------------------------
  function indexModel(m) {
    var ix = { node: new Map(), cluster: new Map(), ancestors: new Map(), lines: {},
               clusterInfo: new Map(), diagOf: new Map(), outputs: new Map() };
    m.clusters.forEach(function (c) {
      ix.cluster.set(c.id, c);
      ix.clusterInfo.set(c.id, { params: 0, unknown: false, diag: null, state: null });
    });
    function chain(clusterId) {
      var out = [];
      while (clusterId) { out.push(clusterId); clusterId = ix.cluster.get(clusterId).parent; }
      return out.reverse(); // outermost first
    }
    m.nodes.forEach(function (n) {
      if (n.label === undefined) n.label = n.id;
      if (n.file === undefined) n.file = m.path;
      if (n.trainable === undefined) n.trainable = n.params;
      ix.node.set(n.id, n);
      var anc = n.cluster ? chain(n.cluster) : [];
      ix.ancestors.set(n.id, anc);
      var state = m.states ? m.states[n.id] : null;
      anc.forEach(function (c) {
        var info = ix.clusterInfo.get(c);
        if (n.params === null || n.params === undefined) info.unknown = true; else info.params += n.params;
        if (n.diag === "error" || (n.diag && !info.diag)) info.diag = n.diag;
        if (state) info.state = "changed";
      });
    });
    m.clusters.forEach(function (c) { ix.ancestors.set(c.id, c.parent ? chain(c.parent) : []); });
    m.edges.forEach(function (e) {
      if (!ix.outputs.has(e.source)) ix.outputs.set(e.source, []);
      ix.outputs.get(e.source).push(e.target);
    });
    members(m, ix);
    m.diagnostics.forEach(function (d, i) {
      if (d.node) { if (!ix.diagOf.has(d.node)) ix.diagOf.set(d.node, []); ix.diagOf.get(d.node).push(i); }
    });
    return ix;
  }

  function labelLines(n) {
    var lines = [n.label];
    if (n.kind === "input") lines.push("input" + (n.args && n.args.dtype ? " " + n.args.dtype : ""));
    else if (n.kind === "output") { /* the name says it */ }
    else if (n.kind === "op") lines.push("op " + n.type);
    else if (n.kind === "share") lines.push("shares " + n.owner);
    else if (n.kind === "submodel") lines.push("sub-model (block " + n.type + ")");
    else lines.push(n.type || "?");
    if (n.shapes) lines.push(n.shapes.map(shapeText).join(" "));
    return lines;
  }
  function clusterLines(c) {
    var info = index.clusterInfo.get(c.id);
    var lines = [c.label, c.size + " nodes" + (info.unknown ? "" : ", " + si(info.params) + " params")];
    return lines;
  }
  function boxSize(lines) {
    var w = 0;
    lines.forEach(function (l) { w = Math.max(w, l.length); });
    return { width: Math.max(70, Math.min(360, w * CHAR + 2 * PAD)), height: lines.length * LINE + 14 };
  }

  // -- layout ---------------------------------------------------------------------------------
  // Each open block is laid out on its own (a flat dagre graph of its direct members) and
  // then stands as one box in the layout of the level around it: dagre's compound layout is
  // many times slower. An edge is laid out at the deepest open block holding both of its
  // ends; inside an open block it continues from the block's entry (":in") or to its exit
  // (":out"), two points that dagre places above and below the members.
  var CPAD = 10, HEAD = 22;

  function members(m, ix) {
    var by = new Map();
    function at(id) { if (!by.has(id)) by.set(id, { nodes: [], clusters: [] }); return by.get(id); }
    m.nodes.forEach(function (n) { at(n.cluster || "").nodes.push(n); });
    m.clusters.forEach(function (c) { at(c.parent || "").clusters.push(c); });
    ix.members = by;
  }

  function levelEdges() {
    var levels = new Map();
    function add(level, a, b, label, source, target) {
      if (!levels.has(level)) levels.set(level, new Map());
      var edges = levels.get(level), key = a + "\n" + b;
      if (!edges.has(key)) edges.set(key, { v: a, w: b, label: label, level: level });
      else edges.get(key).label = "";
    }
    model.edges.forEach(function (e) {
      var A = index.ancestors.get(e.source) || [], B = index.ancestors.get(e.target) || [];
      var i = 0;
      while (i < A.length && i < B.length && A[i] === B[i] && expanded.has(A[i])) i++;
      if (i < A.length && i < B.length && A[i] === B[i]) return; // inside one closed block
      var level = i ? A[i - 1] : "";
      var a = i < A.length ? A[i] : e.source, b = i < B.length ? B[i] : e.target;
      add(level, a, b, a === e.source && b === e.target ? e.label : "");
      for (var j = i; j < A.length && expanded.has(A[j]); j++) add(A[j], j + 1 < A.length ? A[j + 1] : e.source, ":out", "");
      for (j = i; j < B.length && expanded.has(B[j]); j++) add(B[j], ":in", j + 1 < B.length ? B[j + 1] : e.target, "");
    });
    return levels;
  }

  function layoutLevel(level, edges, stats) {
    var g = new dagre.graphlib.Graph();
    var top = level === "";
    g.setGraph({ rankdir: "TB", nodesep: 22, ranksep: 34, edgesep: 12,
                 marginx: top ? 30 : 0, marginy: top ? 30 : 0 });
    g.setDefaultEdgeLabel(function () { return {}; });
    var inner = new Map(), items = [];
    var mine = index.members.get(level) || { nodes: [], clusters: [] };
    mine.nodes.forEach(function (n) {
      var lines = labelLines(n), size = boxSize(lines);
      g.setNode(n.id, size);
      items.push({ id: n.id, node: n, cluster: null, lines: lines });
    });
    mine.clusters.forEach(function (c) {
      if (expanded.has(c.id)) {
        var sub = layoutLevel(c.id, edges, stats);
        inner.set(c.id, sub);
        g.setNode(c.id, { width: Math.max(sub.width + 2 * CPAD, c.label.length * 6.6 + 30), height: sub.height + HEAD + CPAD });
        items.push({ id: c.id, node: null, cluster: c, open: true });
      } else {
        var lines = clusterLines(c), size = boxSize(lines);
        g.setNode(c.id, { width: size.width + 6, height: size.height + 6 });
        items.push({ id: c.id, node: null, cluster: c, lines: lines });
      }
    });
    var mineEdges = edges.get(level) || new Map();
    mineEdges.forEach(function (e) {
      [e.v, e.w].forEach(function (port) { if (port[0] === ":" && !g.hasNode(port)) g.setNode(port, { width: 1, height: 1 }); });
      g.setEdge(e.v, e.w);
    });
    dagre.layout(g);
    stats.items += items.length;
    stats.edges += mineEdges.size;
    var gl = g.graph();
    return { g: g, items: items, inner: inner, edges: mineEdges, width: gl.width || 1, height: gl.height || 1 };
  }

  function layout() {
    var stats = { items: 0, edges: 0 };
    var root = layoutLevel("", levelEdges(), stats);
    root.stats = stats;
    return root;
  }

  // -- drawing --------------------------------------------------------------------------------
  function curve(points) {
    var d = "M" + points[0].x + "," + points[0].y;
    if (points.length === 2) return d + " L" + points[1].x + "," + points[1].y;
    for (var i = 1; i < points.length - 1; i++) {
      var mx = (points[i].x + points[i + 1].x) / 2, my = (points[i].y + points[i + 1].y) / 2;
      d += " Q" + points[i].x + "," + points[i].y + " " + (i === points.length - 2 ? points[i + 1].x + "," + points[i + 1].y : mx + "," + my);
    }
    return d;
  }

  function render(root) {
    var layers = { clusters: document.createDocumentFragment(), edges: document.createDocumentFragment(),
                   nodes: document.createDocumentFragment() };
    drawn = new Map();
    renderLevel(root, 0, 0, null, layers);
    viewport.replaceChildren(layers.clusters, layers.edges, layers.nodes);
    drawn.bounds = { width: root.width, height: root.height };
    highlightEdges();
  }

  function renderLevel(lay, dx, dy, box, layers) {
    lay.edges.forEach(function (e) {
      var ge = lay.g.edge(e.v, e.w);
      if (!ge || !ge.points) return;
      var pts = ge.points.map(function (p) { return { x: p.x + dx, y: p.y + dy }; });
      if (e.v === ":in") pts.unshift({ x: pts[0].x, y: box.top });
      if (e.w === ":out") pts.push({ x: pts[pts.length - 1].x, y: box.bottom });
      var port = e.v[0] === ":" || e.w[0] === ":";
      var attrs = { "class": port ? "edge port" : "edge", d: curve(pts), "data-source": e.v, "data-target": e.w };
      if (e.w !== ":out" && !lay.inner.has(e.w)) attrs["marker-end"] = "url(#arrow)";
      layers.edges.appendChild(s("path", attrs));
      if (e.label) {
        var mid = pts[Math.floor(pts.length / 2)];
        layers.edges.appendChild(s("text", { "class": "edge-label", x: mid.x + 4, y: mid.y - 2 }, e.label));
      }
    });
    lay.items.forEach(function (item) {
      var p = lay.g.node(item.id);
      var x = p.x - p.width / 2 + dx, y = p.y - p.height / 2 + dy;
      drawn.set(item.id, { x: p.x + dx, y: p.y + dy, width: p.width, height: p.height });
      if (item.open) {
        var c = item.cluster;
        var grp = s("g", { "class": "cluster " + c.kind, "data-cluster": c.id });
        grp.appendChild(s("rect", { x: x, y: y, width: p.width, height: p.height, rx: 8 }));
        var t = s("text", { x: x + 8, y: y + 15 }, "\u25BE " + c.label);
        t.appendChild(s("title", {}, "collapse " + c.label));
        grp.appendChild(t);
        layers.clusters.appendChild(grp);
        renderLevel(lay.inner.get(c.id), x + CPAD, y + HEAD, { top: y, bottom: y + p.height }, layers);
        return;
      }
      layers.nodes.appendChild(nodeElement(item, x, y, p.width, p.height));
    });
  }

  function nodeElement(item, x, y, width, height) {
    var grp, w = width;
    if (item.cluster) {
      var info = index.clusterInfo.get(item.id);
      grp = s("g", { "class": "node kind-cluster" + (info.diag ? " diag-" + info.diag : "") + (info.state ? " state-" + info.state : ""),
                     "data-id": item.id, "data-kind": "cluster", transform: "translate(" + x + "," + y + ")" });
      w = width - 6;
      grp.appendChild(s("rect", { "class": "stack", x: 6, y: 6, width: w, height: height - 6, rx: 5 }));
      grp.appendChild(s("rect", { "class": "box", width: w, height: height - 6, rx: 5 }));
      grp.appendChild(s("title", {}, "expand " + item.cluster.label));
    } else {
      var n = item.node;
      var state = model.states ? model.states[n.id] : null;
      grp = s("g", { "class": "node kind-" + n.kind + (n.diag ? " diag-" + n.diag : "") + (state ? " state-" + state : "") +
                     (n.id === selected ? " selected" : ""),
                     "data-id": n.id, "data-kind": n.kind, transform: "translate(" + x + "," + y + ")" });
      var rx = n.kind === "output" ? height / 2 : n.kind === "input" ? 10 : 4;
      grp.appendChild(s("rect", { "class": "box", width: width, height: height, rx: rx }));
      if (n.kind === "submodel") grp.appendChild(s("rect", { "class": "box", x: 4, y: 4, width: width - 8, height: height - 8, rx: 3 }));
    }
    item.lines.forEach(function (line, i) {
      var cl = i === 0 ? "name" : (!item.cluster && item.node.shapes && i === item.lines.length - 1) ? "shape" : "type";
      grp.appendChild(s("text", { "class": cl, x: w / 2, y: 7 + LINE * (i + 1) - 3, "text-anchor": "middle" },
                        line.length > 48 ? line.slice(0, 46) + "\u2026" : line));
    });
    return grp;
  }

  function draw(kind, anchor) {
    var t0 = performance.now();
    var before = anchor && drawn ? drawn.get(anchor) : null;
    var empty = !drawn || drawn.size === 0;  // nothing was drawn yet: frame the new graph
    var lay = layout();
    render(lay);
    if (kind === "load" || empty) fit();
    else if (before && drawn.get(anchor)) {
      var after = drawn.get(anchor);  // keep what was clicked where it was on screen
      view.x += (after.x - after.width / 2) - (before.x - before.width / 2);
      view.y += (after.y - after.height / 2) - (before.y - before.height / 2);
      applyView();
    } else applyView();
    var t1 = performance.now();
    metrics.version = model.version;
    metrics.draws.push({ kind: kind, version: model.version, start: t0, end: t1, ms: t1 - t0,
                         wall: Date.now(), visible: lay.stats.items, edges: lay.stats.edges });
    if (metrics.draws.length > 200) metrics.draws.shift();
    document.body.setAttribute("data-version", String(model.version));
    document.body.setAttribute("data-draws", String(Number(document.body.getAttribute("data-draws") || 0) + 1));
  }

  // -- pan and zoom ---------------------------------------------------------------------------
  function applyView() {
    var w = svg.clientWidth || 800, hgt = svg.clientHeight || 600;
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("viewBox", view.x + " " + view.y + " " + w / view.scale + " " + hgt / view.scale);
  }
  function fit() {
    var w = svg.clientWidth || 800, hgt = svg.clientHeight || 600, b = drawn.bounds;
    view.scale = Math.min(1.5, Math.max(0.02, Math.min(w / (b.width + 20), hgt / (b.height + 20))));
    view.x = b.width / 2 - w / (2 * view.scale);
    view.y = b.height / 2 - hgt / (2 * view.scale);
    applyView();
  }
  function fitWidth() {  // a tall graph: as wide as the window, from its top
    var w = svg.clientWidth || 800, b = drawn.bounds;
    view.scale = Math.max(0.02, Math.min(1, w / (b.width + 40)));
    view.x = b.width / 2 - w / (2 * view.scale);
    view.y = 0;
    applyView();
  }
  function centerOn(id) {
    var p = drawn.get(id);
    if (!p) return;
    var w = svg.clientWidth || 800, hgt = svg.clientHeight || 600;
    view.scale = Math.max(view.scale, 0.8);
    view.x = p.x - w / (2 * view.scale);
    view.y = p.y - hgt / (2 * view.scale);
    applyView();
  }
  svg.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    var r = svg.getBoundingClientRect();
    var gx = view.x + (ev.clientX - r.left) / view.scale, gy = view.y + (ev.clientY - r.top) / view.scale;
    view.scale = Math.min(8, Math.max(0.02, view.scale * Math.exp(-ev.deltaY * 0.0015)));
    view.x = gx - (ev.clientX - r.left) / view.scale;
    view.y = gy - (ev.clientY - r.top) / view.scale;
    applyView();
  }, { passive: false });
  var drag = null;
  svg.addEventListener("pointerdown", function (ev) {
    if (ev.button !== 0) return;
    drag = { x: ev.clientX, y: ev.clientY, vx: view.x, vy: view.y, moved: false };
  });
  window.addEventListener("pointermove", function (ev) {
    if (!drag) return;
    var dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
    if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 4) return;
    drag.moved = true;
    svg.classList.add("panning");
    view.x = drag.vx - dx / view.scale; view.y = drag.vy - dy / view.scale;
    applyView();
  });
  window.addEventListener("pointerup", function () {
    svg.classList.remove("panning");
    setTimeout(function () { drag = null; }, 0);
  });
  window.addEventListener("resize", applyView);

  // -- clicks ---------------------------------------------------------------------------------
  svg.addEventListener("click", function (ev) {
    if (drag && drag.moved) return;
    var target = ev.target.closest("[data-id], [data-cluster]");
    if (!target) return;
    var id = target.getAttribute("data-id");
    if (id !== null) {
      if (index.cluster.has(id)) toggle(id, true);
      else select(id, false);
    } else toggle(target.getAttribute("data-cluster"), false);
  });

  function toggle(clusterId, open) {
    if (open) expanded.add(clusterId); else expanded.delete(clusterId);
    draw(open ? "expand" : "collapse", clusterId);
  }

  function reveal(id) {
    var hidden = false;
    (index.ancestors.get(id) || []).forEach(function (c) {
      if (!expanded.has(c)) { expanded.add(c); hidden = true; }
    });
    if (hidden) draw("reveal");
  }

  function select(id, jump) {
    selected = id;
    if (id !== null && index.node.has(id)) {
      reveal(id);
      if (jump) centerOn(id);
    }
    viewport.querySelectorAll(".node.selected").forEach(function (el) { el.classList.remove("selected"); });
    if (id !== null) {
      var el = viewport.querySelector('.node[data-id="' + CSS.escape(id) + '"]');
      if (el) el.classList.add("selected");
    }
    highlightEdges();
    showDetails();
  }

  function highlightEdges() {
    viewport.querySelectorAll(".edge").forEach(function (e) {
      var on = selected !== null && (e.getAttribute("data-source") === selected || e.getAttribute("data-target") === selected);
      e.style.stroke = on ? "#0b63c4" : "";
      e.style.strokeWidth = on ? "2.2" : "";
    });
  }

  // -- the panel ------------------------------------------------------------------------------
  function refLink(id) {
    var n = index.node.get(id);
    var a = h("a", { "class": "ref", "data-ref": id, text: n ? n.label : id, title: "select " + id });
    a.addEventListener("click", function () { select(id, true); });
    return a;
  }
  function row(key, value, cls) {
    return h("tr", {}, [h("td", { "class": "key", text: key }),
                        typeof value === "string" ? h("td", { "class": cls || null, text: value }) : h("td", {}, [value])]);
  }

  function fileLines(path) {
    if (!(path in index.lines)) {
      var text = model.files ? model.files[path] : undefined;
      index.lines[path] = typeof text === "string" ? text.split(/\r\n|[\r\n\u0085\u2028\u2029]/) : null;
    }
    return index.lines[path];
  }
  function sourceBlock(path, line) {
    var lines = fileLines(path);
    if (!lines || !line) return null;
    var pre = h("pre", { "class": "source" });
    for (var i = Math.max(1, line - 3); i <= Math.min(lines.length, line + 3); i++) {
      var span = h("span", { "class": i === line ? "here" : null, "data-line": i },
                   [h("span", { "class": "ln", text: String(i).padStart(4, " ") }), lines[i - 1]]);
      pre.appendChild(span);
    }
    return pre;
  }

  function showOverview() {
    var st = model.stats;
    var kids = [h("h2", { text: model.name }),
                h("table", {}, [row("file", model.path), row("nodes", num(st.nodes)),
                                row("params", model.analyzed ? num(st.params) : "unknown (the spec has errors)"),
                                row("MACs", model.analyzed ? num(st.macs) : "unknown"),
                                row("problems", st.errors + " error(s), " + st.warnings + " warning(s)")]),
                h("p", { "class": "muted", text: "Click a node for its details; click a block to open it, its title to close it. Drag to pan, scroll to zoom, / to search." })];
    panel.replaceChildren.apply(panel, kids);
  }

  function showDetails() {
    var n = selected !== null ? index.node.get(selected) : null;
    if (!n) { showOverview(); return; }
    var kids = [h("h2", {}, [h("span", { "class": "badge", text: n.kind }), n.label])];
    var t = h("table", { id: "facts" });
    if (n.kind !== "output" && n.kind !== "input") t.appendChild(row(n.kind === "share" ? "shares" : n.kind === "submodel" ? "block" : "type", n.kind === "share" ? refLink(n.owner) : String(n.type)));
    if (n.shapes) t.appendChild(row("output shape", n.shapes.map(shapeText).join(", ")));
    else if (n.kind !== "output") t.appendChild(row("output shape", model.analyzed ? "unknown" + (n.note ? ": " + n.note : "") : "unknown (the spec has errors)", "muted"));
    if (n.dtype) t.appendChild(row("dtype", n.dtype));
    if (n.params !== undefined) t.appendChild(row("params", num(n.params) + (n.trainable !== null && n.trainable !== n.params ? " (" + num(n.trainable) + " trainable)" : "")));
    if (n.macs !== undefined) t.appendChild(row("MACs", num(n.macs)));
    var anc = index.ancestors.get(n.id) || [];
    if (anc.length) t.appendChild(row("block", anc.map(function (c) { return index.cluster.get(c).label; }).join(" \u203A ")));
    if (n.file) t.appendChild(row("source", n.file + (n.line ? ":" + n.line : "")));
    kids.push(t);
    var argNames = Object.keys(n.args || {});
    var accepts = ((model.arguments || {})[n.kind + " " + n.type] || []).filter(function (a) { return !(a in (n.args || {})); });
    if (argNames.length || accepts.length) {
      kids.push(h("h3", { text: "arguments" }));
      var at = h("table", { id: "args" });
      argNames.forEach(function (k) { at.appendChild(row(k, valueText(n.args[k]))); });
      kids.push(at);
      if (!argNames.length) kids.push(h("p", { "class": "muted", text: "none written" }));
      if (accepts.length)
        kids.push(h("p", { "class": "default", text: "left at their defaults: " + accepts.join(", ") }));
    }
    var ins = (n.inputs || []), outs = (index.outputs.get(n.id) || []);
    kids.push(h("h3", { text: "inputs" }), ins.length ? h("div", { id: "inputs" }, ins.map(refLink)) : h("p", { "class": "muted", text: "none" }));
    kids.push(h("h3", { text: "outputs" }), outs.length ? h("div", { id: "outputs" }, outs.map(refLink)) : h("p", { "class": "muted", text: "none" }));
    if (n.body) kids.push(h("h3", { text: "sub-model nodes" }), h("p", { text: n.body.join(", ") }));
    var diags = index.diagOf.get(n.id) || [];
    if (diags.length) {
      kids.push(h("h3", { text: "problems" }));
      diags.forEach(function (i) { var d = model.diagnostics[i]; kids.push(h("p", { "class": d.severity, text: d.severity + "[" + d.code + "]: " + d.message })); });
    }
    var src = sourceBlock(n.file, n.line);
    if (src) kids.push(h("h3", { text: "source" }), src);
    panel.replaceChildren.apply(panel, kids);
  }

  function showDiagnostics() {
    var list = model.diagnostics;
    if (!list.length) { diagBox.replaceChildren(); return; }
    var errors = list.filter(function (d) { return d.severity === "error"; }).length;
    var ul = h("ul");
    list.forEach(function (d, i) {
      var where = d.file + (d.line ? ":" + d.line + ":" + d.column : d.pointer ? " (" + d.pointer + ")" : "");
      var li = h("li", { "class": d.severity + (i === currentDiag ? " current" : ""), "data-index": i, "data-node": d.node || null },
                 [h("b", { text: d.severity + "[" + d.code + "] " }), d.message,
                  h("span", { "class": "where", text: where + (d.node ? "  \u2192 " + d.node : "") }),
                  d.hint ? h("span", { "class": "hint", text: "hint: " + d.hint }) : null]);
      li.addEventListener("click", function () {
        currentDiag = i;
        diagBox.querySelectorAll("li").forEach(function (el) { el.classList.toggle("current", el === li); });
        if (d.node) select(d.node, true);
      });
      ul.appendChild(li);
    });
    diagBox.replaceChildren(h("h3", { text: errors + " error(s), " + (list.length - errors) + " warning(s)" }), ul);
  }

  function showHeader() {
    $("title").textContent = model.name;
    document.title = model.name + " - graphspec view";
    var st = model.stats;
    $("stats").textContent = model.path + " \u00B7 " + num(st.nodes) + " nodes" +
      (model.analyzed ? " \u00B7 " + si(st.params) + " params \u00B7 " + si(st.macs) + " MACs" : "") +
      (st.errors ? " \u00B7 " + st.errors + " error(s)" : "") + (st.warnings ? " \u00B7 " + st.warnings + " warning(s)" : "");
  }

  // -- search ---------------------------------------------------------------------------------
  var search = $("search"), matches = $("matches"), found = [];
  function findNodes(text) {
    var q = text.trim().toLowerCase();
    if (!q) return [];
    var exact = [], prefix = [], inside = [];
    model.nodes.forEach(function (n) {
      var id = n.id.toLowerCase();
      if (id === q) exact.push(n); else if (id.startsWith(q)) prefix.push(n); else if (id.indexOf(q) >= 0) inside.push(n);
    });
    return exact.concat(prefix, inside).slice(0, 30);
  }
  function showMatches() {
    found = findNodes(search.value);
    matches.replaceChildren.apply(matches, found.map(function (n, i) {
      var anc = index.ancestors.get(n.id);
      var li = h("li", { "class": i === 0 ? "active" : null, "data-id": n.id },
                 [n.label, h("span", { "class": "where", text: anc.length ? index.cluster.get(anc[anc.length - 1]).label : n.kind })]);
      li.addEventListener("mousedown", function (ev) { ev.preventDefault(); jump(n.id); });
      return li;
    }));
  }
  function jump(id) {
    matches.replaceChildren();
    search.value = "";
    search.blur();
    select(id, true);
  }
  search.addEventListener("input", showMatches);
  search.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && found.length) jump(found[0].id);
    if (ev.key === "Escape") { search.value = ""; matches.replaceChildren(); search.blur(); }
  });
  search.addEventListener("blur", function () { setTimeout(function () { matches.replaceChildren(); }, 100); });
  document.addEventListener("keydown", function (ev) {
    if (ev.target === search) return;
    if (ev.key === "/") { ev.preventDefault(); search.focus(); search.select(); }
    else if (ev.key === "f") fit();
    else if (ev.key === "Escape") select(null, false);
  });
  $("fit").addEventListener("click", fit);
  $("expand-all").addEventListener("click", function () {
    // Outer blocks first, as long as the page stays quick to draw.
    var shown = (index.members.get("") || { nodes: [], clusters: [] });
    var count = shown.nodes.length + shown.clusters.length, left = 0;
    model.clusters.slice().sort(function (a, b) {
      return index.ancestors.get(a.id).length - index.ancestors.get(b.id).length;
    }).forEach(function (c) {
      var open = index.ancestors.get(c.id).every(function (a) { return expanded.has(a); });
      if (expanded.has(c.id)) return;
      var mine = index.members.get(c.id) || { nodes: [], clusters: [] };
      var more = mine.nodes.length + mine.clusters.length - 1;
      if (!open || count + more > EXPAND_ALL_MAX) { left++; return; }
      expanded.add(c.id); count += more;
    });
    draw("expand-all"); fitWidth();
    if (left) setStatus(left + " blocks left closed (a large graph)", false);
  });
  $("collapse-all").addEventListener("click", function () {
    expanded.clear(); draw("collapse-all"); fit();
  });

  // -- models arriving --------------------------------------------------------------------------
  function setStatus(text, isStale) {
    var el = $("status");
    el.textContent = text;
    el.classList.toggle("stale", !!isStale);
  }

  function apply(m, kind) {
    currentDiag = -1;
    if (kind !== "load" && !m.nodes.length && model && model.nodes.length) {
      // Nothing could be read (a syntax error): keep the last graph, dimmed, with the problems.
      var kept = model;
      model = Object.assign({}, kept, { diagnostics: m.diagnostics, stats: m.stats, version: m.version, ok: m.ok });
      model.nodes.forEach(function (n) { delete n.diag; });
      index = indexModel(model);
      stale = true;
      svg.classList.add("stale");
      setStatus("the spec cannot be read: last graph shown", true);
      showHeader(); showDiagnostics(); showDetails();
      metrics.version = m.version;
      document.body.setAttribute("data-version", String(m.version));
      return;
    }
    model = m;
    index = indexModel(m);
    if (kind === "load") {
      if (m.nodes.length <= EXPAND_ALL_UP_TO) m.clusters.forEach(function (c) { expanded.add(c.id); });
    } else {
      expanded.forEach(function (c) { if (!index.cluster.has(c)) expanded.delete(c); });
    }
    if (selected !== null && !index.node.has(selected)) selected = null;
    stale = false;
    svg.classList.remove("stale");
    showHeader();
    draw(kind);
    showDiagnostics();
    if (selected !== null) select(selected, false); else showDetails();
    if (m.live) setStatus(m.ok ? "live" : "live \u00B7 errors", !m.ok);
  }

  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }
  async function follow() {
    for (;;) {
      try {
        var r = await fetch("graph.json?after=" + encodeURIComponent(model.version), { cache: "no-store" });
        if (r.status === 200) apply(Object.assign(await r.json(), { live: true }), "update");
        else if (r.status !== 204) { setStatus("server error " + r.status, true); await sleep(1000); }
      } catch (e) {
        setStatus("disconnected: is graphspec view still running?", true);
        await sleep(1000);
      }
    }
  }

  metrics.select = function (id) { select(id, true); };
  metrics.toggle = function (id, open) { toggle(id, open); };
  metrics.apply = function (m) { apply(m, "update"); };

  var first = JSON.parse($("graphspec-data").textContent);
  apply(first, "load");
  metrics.loaded = performance.now();
  if (first.live) follow();
})();
