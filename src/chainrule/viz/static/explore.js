/* chainrule.viz.explore: lays out and renders the graph and the stepper. Every number comes
   from Python (the JSON block above); this script computes no derivative. Shipped inside the
   package: the page needs no network. */
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("explore-data").textContent);
  var N = D.nodes, R = D.rows, S = D.steps, P = D.paths, G = D.groups;
  var SVGNS = "http://www.w3.org/2000/svg";
  var $ = function (id) { return document.getElementById(id); };
  var collapsed = G.map(function () { return true; });
  var cur = 0, selected = null, hotPath = null, timer = null, scale = 1;
  var layout = null;       // the current layout (depends on which groups are open)
  var boxes = {};          // node index -> {g, data, grad} SVG elements
  var edgesByKey = {};     // 'e:node:slot' | 'r:node' -> [path elements]
  var rootName = N[D.root].name;

  // ----- derived indexes (lookups only) ---------------------------------------------------
  var fwdStep = {};        // node -> step index of its forward step
  S.forEach(function (s, k) { if (s.phase === "forward") fwdStep[s.node] = k; });
  var firstBackward = S.findIndex(function (s) { return s.phase === "backward"; });
  var rowsOf = {};         // node -> rows (ascending) where it receives a product
  R.forEach(function (r, k) { (rowsOf[r.operand] = rowsOf[r.operand] || []).push(k); });
  var longest = {};        // node -> longest grad text it ever shows (for box widths)
  R.forEach(function (r) {
    longest[r.operand] = Math.max(longest[r.operand] || 0, (r.total || "").length);
  });

  function el(tag, attrs, parent) {
    var e = document.createElementNS(SVGNS, tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function h(tag, cls, text, parent) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  var measure = document.createElement("canvas").getContext("2d");
  function textWidth(s, size, bold) {
    measure.font = (bold ? "bold " : "") + (size || 12) + "px Helvetica, Arial, sans-serif";
    return measure.measureText(s).width;
  }

  // ----- legend and table -----------------------------------------------------------------
  (function legend() {
    var L = $("legend");
    [["param", "parameter / named input"], ["input", "input or constant"],
     ["value", "computed value"]].forEach(function (p) {
      var s = h("span", null, null, L);
      var sw = h("span", "sw", null, s);
      sw.style.background = D.colors[p[0]];
      s.appendChild(document.createTextNode(p[1]));
    });
    var g = h("span", null, "grad in red", L);
    g.style.color = D.colors.grad;
  })();

  var tableRows = [];
  (function table() {
    var T = $("table"), head = h("thead", null, null, T), tr = h("tr", null, null, head);
    D.columns.forEach(function (c) { h("th", null, c, tr); });
    var body = h("tbody", null, null, T);
    R.forEach(function (r, k) {
      var row = h("tr", r.accumulates ? "acc" : "", null, body);
      r.cells.forEach(function (c) { h("td", null, c, row); });
      row.addEventListener("click", function () { go(firstBackward + k); });
      tableRows.push(row);
    });
  })();

  // ----- layout: layered, left to right ---------------------------------------------------
  function visibleGraph() {
    var nodes = {}, order = [], edges = [], merged = {};
    function vis(i) {
      var g = N[i].group;
      return g != null && collapsed[g] ? "g" + g : "n" + i;
    }
    function add(id, v) { if (!nodes[id]) { nodes[id] = v; order.push(id); } }
    N.forEach(function (n, i) {
      var id = vis(i);
      if (id[0] === "g") {
        var gi = n.group;
        var t = G[gi].title, sub = "\u25B8 click to open";
        add(id, { id: id, kind: "group", group: gi,
          w: Math.max(textWidth(t, 12, true), textWidth(sub, 10)) + 20, h: 40 });
        return;
      }
      var lines = 3 + (n.shape && n.shape.length ? 1 : 0);
      if (n.role === "const") lines = 1;
      var w = Math.max(textWidth(n.name, 12, true), textWidth("data " + (n.value || "?")),
        textWidth("grad " + (n.grad || "")), textWidth("grad " + "8".repeat(longest[i] || 0)),
        n.shape ? textWidth("shape (" + n.shape.join(", ") + ")", 10) : 0) + 16;
      add(id, { id: id, kind: n.role === "const" ? "const" : "box", node: i,
        w: Math.max(w, 44), h: lines * 15 + 8 });
      if (n.op) {
        add("o" + i, { id: "o" + i, kind: "op", node: i,
          w: Math.max(32, textWidth(n.op, 13) + 16), h: 28 });
      }
    });
    function edge(src, dst, key, mergeable) {
      var mk = src + ">" + dst;
      if (mergeable && merged[mk]) { merged[mk].keys.push(key); return; }
      var e = { src: src, dst: dst, keys: [key] };
      edges.push(e);
      if (mergeable) merged[mk] = e;
    }
    N.forEach(function (n, i) {
      if (!n.op) return;
      var hidden = vis(i)[0] === "g";
      var tgt = hidden ? vis(i) : "o" + i;
      if (!hidden) edge("o" + i, "n" + i, "r:" + i, false);
      n.inputs.forEach(function (io) {
        var src = vis(io[0]);
        if (src === tgt) return;
        edge(src, tgt, "e:" + i + ":" + io[1], hidden || src[0] === "g");
      });
    });
    return { nodes: nodes, order: order, edges: edges };
  }

  function computeLayout() {
    var V = visibleGraph(), nodes = V.nodes, order = V.order, edges = V.edges;
    var succ = {}, pred = {}, indeg = {};
    order.forEach(function (id) { succ[id] = []; pred[id] = []; indeg[id] = 0; });
    edges.forEach(function (e) { succ[e.src].push(e.dst); pred[e.dst].push(e.src); indeg[e.dst]++; });
    var rank = {}, queue = order.filter(function (id) { return indeg[id] === 0; }), topo = [];
    queue.forEach(function (id) { rank[id] = 0; });
    while (queue.length) {
      var v = queue.shift();
      topo.push(v);
      succ[v].forEach(function (w) {
        rank[w] = Math.max(rank[w] || 0, rank[v] + 1);
        if (--indeg[w] === 0) queue.push(w);
      });
    }
    // a source sits just before its first consumer, not in column 0
    order.forEach(function (id) {
      if (pred[id].length === 0 && succ[id].length) {
        rank[id] = Math.min.apply(null, succ[id].map(function (w) { return rank[w]; })) - 1;
      }
    });
    // long edges get dummy points, one per rank they cross
    var dummyId = 0, adjUp = {}, adjDown = {};
    order.forEach(function (id) { adjUp[id] = []; adjDown[id] = []; });
    edges.forEach(function (e) {
      e.chain = [e.src];
      for (var r = rank[e.src] + 1; r < rank[e.dst]; r++) {
        var d = "d" + (dummyId++);
        nodes[d] = { id: d, kind: "dummy", w: 0, h: 6 };
        rank[d] = r; order.push(d); adjUp[d] = []; adjDown[d] = [];
        e.chain.push(d);
      }
      e.chain.push(e.dst);
      for (var k = 0; k + 1 < e.chain.length; k++) {
        adjDown[e.chain[k]].push(e.chain[k + 1]);
        adjUp[e.chain[k + 1]].push(e.chain[k]);
      }
    });
    var maxRank = 0, minRank = 0;
    order.forEach(function (id) {
      maxRank = Math.max(maxRank, rank[id]); minRank = Math.min(minRank, rank[id]);
    });
    var layers = [];
    for (var r = 0; r <= maxRank - minRank; r++) layers.push([]);
    order.forEach(function (id) { rank[id] -= minRank; layers[rank[id]].push(id); });
    var pos = {};
    function index() { layers.forEach(function (L) { L.forEach(function (id, k) { pos[id] = k; }); }); }
    index();
    function bary(id, adj) {
      var a = adj[id];
      if (!a.length) return pos[id];
      var s = 0; a.forEach(function (u) { s += pos[u]; });
      return s / a.length;
    }
    for (var it = 0; it < 12; it++) {
      var down = it % 2 === 0;
      for (var q = 0; q < layers.length; q++) {
        var L = layers[down ? q : layers.length - 1 - q];
        var b = {};
        L.forEach(function (id) { b[id] = bary(id, down ? adjUp : adjDown); });
        L.sort(function (x, y) { return b[x] - b[y] || pos[x] - pos[y]; });
        L.forEach(function (id, k) { pos[id] = k; });
      }
    }
    // members of an open group stay together in each layer, so its frame holds only them
    function grp(id) { var v = nodes[id]; return v.node != null ? N[v.node].group : null; }
    layers.forEach(function (L) {
      var sum = {}, cnt = {};
      L.forEach(function (id, k) {
        var g = grp(id);
        if (g != null) { sum[g] = (sum[g] || 0) + k; cnt[g] = (cnt[g] || 0) + 1; }
      });
      var key = {};
      L.forEach(function (id, k) { var g = grp(id); key[id] = g != null ? sum[g] / cnt[g] : k; });
      L.sort(function (x, y) { return key[x] - key[y] || pos[x] - pos[y]; });
      L.forEach(function (id, k) { pos[id] = k; });
    });
    function gap(a, b) { return grp(a) === grp(b) ? GAPY : GAPY + 30; }
    // x: one column per rank; y: stacked, then pulled toward the neighbours
    var GAPX = 34, GAPY = 16, x = 20, colX = [];
    layers.forEach(function (L, r) {
      var wmax = 0; L.forEach(function (id) { wmax = Math.max(wmax, nodes[id].w); });
      colX[r] = x + wmax / 2; x += wmax + GAPX;
    });
    var y = {};
    layers.forEach(function (L) {
      var t = 0;
      L.forEach(function (id, k) {
        if (k > 0) t += gap(L[k - 1], id);
        y[id] = t + nodes[id].h / 2; t += nodes[id].h;
      });
      L.forEach(function (id) { y[id] -= t / 2; });
    });
    for (it = 0; it < 16; it++) {
      var fwd = it % 2 === 0;
      for (q = 0; q < layers.length; q++) {
        L = layers[fwd ? q : layers.length - 1 - q];
        var want = {}, shift = 0;
        L.forEach(function (id) {
          var nb = adjUp[id].concat(adjDown[id]);
          if (!nb.length) { want[id] = y[id]; return; }
          var s = 0; nb.forEach(function (u) { s += y[u]; }); want[id] = s / nb.length;
        });
        L.forEach(function (id, k) {
          var v = want[id];
          if (k > 0) {
            var p = L[k - 1];
            v = Math.max(v, y[p] + (nodes[p].h + nodes[id].h) / 2 + gap(p, id));
          }
          y[id] = v;
        });
        L.forEach(function (id) { shift += want[id] - y[id]; });
        shift /= L.length || 1;
        L.forEach(function (id) { y[id] += shift; });
      }
    }
    var minY = Infinity, maxY = -Infinity;
    order.forEach(function (id) {
      minY = Math.min(minY, y[id] - nodes[id].h / 2); maxY = Math.max(maxY, y[id] + nodes[id].h / 2);
    });
    order.forEach(function (id) {
      nodes[id].x = colX[rank[id]]; nodes[id].y = y[id] - minY + 34;
    });
    return { nodes: nodes, order: order, edges: edges, width: x, height: maxY - minY + 68 };
  }

  // ----- drawing --------------------------------------------------------------------------
  function draw() {
    layout = computeLayout();
    var svg = $("graph");
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var defs = el("defs", {}, svg);
    var m = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "9", refY: "5",
      markerWidth: "8", markerHeight: "8", markerUnits: "userSpaceOnUse",
      orient: "auto-start-reverse" }, defs);
    el("path", { d: "M0,0 L10,5 L0,10 z", fill: "#666" }, m);
    var frames = el("g", {}, svg), eg = el("g", {}, svg), ng = el("g", {}, svg);
    var labels = el("g", {}, svg);
    boxes = {}; edgesByKey = {};
    var nodes = layout.nodes;
    // frames of the open groups
    G.forEach(function (g, gi) {
      if (collapsed[gi]) return;
      var x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity, any = false;
      layout.order.forEach(function (id) {
        var v = nodes[id];
        if (v.node == null || N[v.node].group !== gi) return;
        any = true;
        x0 = Math.min(x0, v.x - v.w / 2); x1 = Math.max(x1, v.x + v.w / 2);
        y0 = Math.min(y0, v.y - v.h / 2); y1 = Math.max(y1, v.y + v.h / 2);
      });
      if (!any) return;
      el("rect", { class: "group-frame", x: x0 - 10, y: y0 - 22, width: x1 - x0 + 20,
        height: y1 - y0 + 32, rx: 8 }, frames);
      var t = el("text", { class: "group-title", x: x0 - 4, y: y0 - 8, "data-group": gi }, frames);
      t.textContent = "\u25BE " + g.title + " (click to close)";
      t.addEventListener("click", function (ev) { ev.stopPropagation(); toggleGroup(gi); });
    });
    // edges
    var pairCount = {}, pairSeen = {};
    layout.edges.forEach(function (e) {
      var k = e.src + ">" + e.dst; pairCount[k] = (pairCount[k] || 0) + 1;
    });
    layout.edges.forEach(function (e) {
      var k = e.src + ">" + e.dst, j = pairSeen[k] = (pairSeen[k] || 0) + 1;
      var off = (j - 1 - (pairCount[k] - 1) / 2) * 7;
      var pts = e.chain.map(function (id, q) {
        var v = nodes[id];
        if (q === 0) return [v.x + v.w / 2, v.y + off];
        if (q === e.chain.length - 1) return [v.x - v.w / 2 - 2, v.y + off];
        return [v.x, v.y];
      });
      var d = "M" + pts[0][0] + "," + pts[0][1];
      for (var q = 1; q < pts.length; q++) {
        var a = pts[q - 1], b = pts[q], dx = (b[0] - a[0]) / 2;
        d += " C" + (a[0] + dx) + "," + a[1] + " " + (b[0] - dx) + "," + b[1] + " " + b[0] + "," + b[1];
      }
      var p = el("path", { class: "edge", d: d, "marker-end": "url(#arrow)",
        "data-keys": e.keys.join(" ") }, eg);
      var mid = pts[Math.floor(pts.length / 2)], prev = pts[Math.floor(pts.length / 2) - 1] || mid;
      p._mid = [(mid[0] + prev[0]) / 2, (mid[1] + prev[1]) / 2];
      e.keys.forEach(function (key) { (edgesByKey[key] = edgesByKey[key] || []).push(p); });
    });
    // nodes
    layout.order.forEach(function (id) {
      var v = nodes[id];
      if (v.kind === "dummy") return;
      var g = el("g", { class: "node", transform: "translate(" + (v.x - v.w / 2) + "," +
        (v.y - v.h / 2) + ")" }, ng);
      if (v.kind === "group") {
        g.setAttribute("class", "node gnode");
        g.setAttribute("data-group", v.group);
        el("rect", { width: v.w, height: v.h, rx: 4 }, g);
        var t = el("text", { x: 10, y: 16, class: "name" }, g); t.textContent = G[v.group].title;
        t = el("text", { x: 10, y: 32, class: "shape" }, g); t.textContent = "\u25B8 click to open";
        g.addEventListener("click", function (ev) { ev.stopPropagation(); toggleGroup(v.group); });
        return;
      }
      var n = N[v.node];
      if (v.kind === "op") {
        g.setAttribute("class", "node op");
        g.setAttribute("data-op", v.node);
        el("rect", { width: v.w, height: v.h, rx: v.h / 2, fill: "#d6eaf8" }, g);
        var o = el("text", { x: v.w / 2, y: v.h / 2 + 5, "text-anchor": "middle" }, g);
        o.style.fontSize = "13px";
        o.textContent = n.op;
        boxes[v.node] = boxes[v.node] || {};
        boxes[v.node].op = g;
        return;
      }
      g.setAttribute("data-node", v.node);
      g.setAttribute("data-name", n.name);
      var fill = D.colors[n.role] || "#fff";
      el("rect", { width: v.w, height: v.h, rx: v.kind === "const" ? 2 : 7, fill: fill,
        "stroke-dasharray": v.kind === "const" ? "2 2" : "" }, g);
      var yy = 16;
      var nm = el("text", { x: 8, y: yy, class: "name" }, g); nm.textContent = n.name;
      var rec = boxes[v.node] = boxes[v.node] || {};
      rec.g = g;
      if (v.kind === "const") return;
      if (n.shape && n.shape.length) {
        yy += 15;
        var sh = el("text", { x: 8, y: yy, class: "shape" }, g);
        sh.textContent = "shape (" + n.shape.join(", ") + ")";
      }
      yy += 15; rec.data = el("text", { x: 8, y: yy, class: "data" }, g);
      yy += 15; rec.grad = el("text", { x: 8, y: yy, class: "grad" }, g);
      if (P[v.node]) {
        g.setAttribute("class", "node clickable");
        g.addEventListener("click", function (ev) { ev.stopPropagation(); select(v.node); });
      }
    });
    var svgW = layout.width, svgH = layout.height;
    svg.setAttribute("viewBox", "0 0 " + svgW + " " + svgH);
    svg._labels = labels;
    applyScale();
    render();
  }

  function applyScale() {
    var svg = $("graph"), hgt = Math.ceil(layout.height * scale);
    svg.setAttribute("width", Math.ceil(layout.width * scale));
    svg.setAttribute("height", hgt);
    // the canvas is as tall as the graph (within limits), so the table stays in view
    $("canvas").style.height = Math.max(280, Math.min(hgt + 24, window.innerHeight * 0.7)) + "px";
  }
  function fit() {
    var c = $("canvas");
    scale = Math.min(1.6, (c.clientWidth - 4) / layout.width, (c.clientHeight - 4) / layout.height);
    scale = Math.max(scale, 0.15);
    applyScale();
  }

  function toggleGroup(gi) { collapsed[gi] = !collapsed[gi]; draw(); }

  // ----- state at the current step ----------------------------------------------------------
  function gradRowAt(i, k) {   // the last row <= k that landed in node i, or -1
    var rs = rowsOf[i];
    if (!rs) return -1;
    var lo = 0, hi = rs.length - 1, best = -1;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      if (rs[mid] <= k) { best = rs[mid]; lo = mid + 1; } else hi = mid - 1;
    }
    return best;
  }

  function clearMarks() {
    var svg = $("graph");
    ["active", "target", "onpath", "hot", "selected", "faded"].forEach(function (c) {
      svg.querySelectorAll("." + c).forEach(function (e) { e.classList.remove(c); });
    });
    var labels = svg._labels;
    while (labels && labels.firstChild) labels.removeChild(labels.firstChild);
  }
  function mark(key, cls) { (edgesByKey[key] || []).forEach(function (p) { p.classList.add(cls); }); }
  function markNode(i, cls) {
    var b = boxes[i];
    if (b && b.g) b.g.classList.add(cls);
    var gi = N[i].group;
    if (gi != null && collapsed[gi]) {
      var gg = $("graph").querySelector('.gnode[data-group="' + gi + '"]');
      if (gg) gg.classList.add(cls === "target" ? "active" : cls);
    }
  }
  function markOp(i, cls) { var b = boxes[i]; if (b && b.op) b.op.classList.add(cls); }
  function edgeLabel(key, text) {
    var ps = edgesByKey[key];
    if (!ps || !ps.length || !text) return;
    var p = ps[0], t = el("text", { class: "elabel", x: p._mid[0], y: p._mid[1] - 4,
      "text-anchor": "middle" }, $("graph")._labels);
    t.textContent = text;
  }

  function render() {
    var st = S[cur], row = st.phase === "backward" ? st.row : -1;
    $("slider").value = cur;
    var nb = R.length, nf = D.n_forward;
    $("stepno").textContent = "step " + cur + " / " + (S.length - 1) + " \u00B7 " +
      (st.phase === "start" ? "start" : st.phase === "forward" ?
        "forward " + (cur) + "/" + nf : "backward " + (row + 1) + "/" + nb);
    N.forEach(function (n, i) {
      var b = boxes[i];
      if (!b || !b.data) return;
      var known = n.leaf || (fwdStep[i] != null && fwdStep[i] <= cur);
      b.data.textContent = "data " + (known ? n.value : "?");
      b.data.setAttribute("class", known ? "data" : "data unknown");
      b.g.setAttribute("data-value", known ? JSON.stringify(n.valueNum) : "null");
      var k = row >= 0 ? gradRowAt(i, row) : -1;
      if (k >= 0) {
        b.grad.textContent = "grad " + R[k].total;
        b.grad.setAttribute("class", "grad");
        b.g.setAttribute("data-grad", JSON.stringify(R[k].totalNum));
      } else {
        b.grad.textContent = st.phase === "backward" && n.requiresGrad ? "grad \u00B7" : "";
        b.grad.setAttribute("class", "grad unknown");
        b.g.setAttribute("data-grad", "null");
      }
    });
    clearMarks();
    var info = $("info");
    info.innerHTML = "";
    info.setAttribute("data-phase", st.phase);
    info.setAttribute("data-row", row);
    if (st.phase === "start") {
      h("div", "phase", "before the forward pass", info);
      h("p", null, "The leaves (inputs and parameters) hold their values. Step through the " +
        "forward pass (" + nf + " ops, in topological order: every operand before the op " +
        "that reads it), then the backward pass (" + nb + " chain-rule steps). Keys: \u2190 " +
        "\u2192, Home, End, Space to play.", info);
    } else if (st.phase === "forward") {
      h("div", "phase", "forward pass \u00B7 op " + cur + " of " + nf, info);
      h("div", "expr", st.text, info);
      h("p", "hint", "The op runs on its operands' values; nothing is differentiated yet.", info);
      markNode(st.node, "active"); markOp(st.node, "active"); mark("r:" + st.node, "active");
      N[st.node].inputs.forEach(function (io) { mark("e:" + st.node + ":" + io[1], "active"); });
    } else if (row === 0) {
      var r0 = R[0];
      h("div", "phase", "backward pass \u00B7 step 1 of " + nb + ": the seed", info);
      h("div", "expr", r0.formula, info);
      h("div", "lands", r0.note, info);
      h("p", "hint", "Backward starts at the output with d" + rootName + "/d" + rootName +
        " = 1 and visits the ops in reverse topological order.", info);
      markNode(r0.operand, "target");
    } else {
      var r = R[row], up = N[r.node].name, opd = N[r.operand].name;
      h("div", "phase", "backward pass \u00B7 step " + (row + 1) + " of " + nb, info);
      h("div", "expr", r.expr, info);
      var c = h("div", "chain", null, info);
      var l1 = h("div", null, null, c);
      h("span", null, "local derivative ", l1);
      var same = / = (.*)$/.exec(r.formula);
      var shown = r.local && r.local !== "(Jacobian)" && !(same && same[1] === r.local);
      h("span", "local", r.formula + (shown ? " = " + r.local : ""), l1);
      var l2 = h("div", null, null, c);
      h("span", null, "\u00D7 upstream d" + rootName + "/d" + up + " = ", l2);
      h("span", "up", r.upstream, l2);
      var l3 = h("div", null, null, c);
      h("span", null, "= ", l3);
      h("span", "prod", r.product, l3);
      h("span", null, "  (d" + rootName + "/d" + opd + " through this op)", l3);
      if (r.local === "(Jacobian)") {
        h("p", "hint", "This op's local derivative is a full Jacobian: the engine applies " +
          "it as a vector-Jacobian product, without forming it.", info);
      }
      var lands = h("div", "lands", null, info);
      lands.textContent = "\u2192 " + r.note;
      if (r.accumulates) {
        h("span", "acc", opd + " feeds several ops: its gradient is the sum of one product " +
          "per use", info);
      }
      markNode(r.node, "active"); markOp(r.node, "active");
      mark("r:" + r.node, "active"); mark("e:" + r.node + ":" + r.slot, "active");
      markNode(r.operand, "target");
      if (typeof r.localNum === "number" && selected == null) edgeLabel("e:" + r.node + ":" + r.slot, "\u00D7" + r.local);
    }
    var focus = st.phase === "forward" ? st.node : row >= 0 ? R[row].operand : null;
    if (focus != null) scrollTo(focus);
    tableRows.forEach(function (tr, k) {
      tr.classList.toggle("current", k === row);
      tr.classList.toggle("future", row < 0 || k > row);
    });
    if (row >= 0 && tableRows[row]) {
      var wrap = $("tablewrap"), tr = tableRows[row];
      if (tr.offsetTop < wrap.scrollTop + 20 || tr.offsetTop > wrap.scrollTop + wrap.clientHeight - 20) {
        wrap.scrollTop = tr.offsetTop - wrap.clientHeight / 2;
      }
    }
    if (selected != null) showPaths(selected, hotPath);
  }

  function scrollTo(i) {   // keep node i (or the group box that holds it) in view
    var gi = N[i].group, v = layout.nodes[gi != null && collapsed[gi] ? "g" + gi : "n" + i];
    if (!v) return;
    var c = $("canvas"), x = v.x * scale, y = v.y * scale, mx = 60 + v.w * scale / 2;
    if (x - mx < c.scrollLeft || x + mx > c.scrollLeft + c.clientWidth) {
      c.scrollLeft = x - c.clientWidth / 2;
    }
    if (y - 40 < c.scrollTop || y + 40 > c.scrollTop + c.clientHeight) {
      c.scrollTop = y - c.clientHeight / 2;
    }
  }

  // ----- paths to one parameter ----------------------------------------------------------
  function pathKeys(p) {
    var ks = [];
    p.rows.forEach(function (k) { ks.push("e:" + R[k].node + ":" + R[k].slot, "r:" + R[k].node); });
    return ks;
  }
  function showPaths(i, hot) {
    var info = P[i], box = $("paths");
    box.setAttribute("data-node", i);
    box.setAttribute("data-count", info.count);
    box.setAttribute("data-sum", info.sum == null ? "null" : info.sum);
    box.setAttribute("data-grad", JSON.stringify(info.grad));
    var svg = $("graph");
    svg.querySelectorAll(".edge").forEach(function (e) { e.classList.add("faded"); });
    svg.querySelectorAll(".node").forEach(function (e) { e.classList.add("faded"); });
    info.paths.forEach(function (p, q) {
      pathKeys(p).forEach(function (key) {
        mark(key, hot === q ? "hot" : "onpath");
        (edgesByKey[key] || []).forEach(function (e) { e.classList.remove("faded"); });
      });
      p.rows.forEach(function (k) {
        [R[k].node, R[k].operand].forEach(function (j) {
          var b = boxes[j];
          if (b && b.g) { b.g.classList.add("onpath"); b.g.classList.remove("faded"); }
          if (b && b.op) { b.op.classList.add("onpath"); b.op.classList.remove("faded"); }
        });
        if (typeof R[k].localNum === "number") edgeLabel("e:" + R[k].node + ":" + R[k].slot, "\u00D7" + R[k].local);
      });
    });
    var b = boxes[i];
    if (b && b.g) { b.g.classList.add("selected"); b.g.classList.remove("faded"); }
    svg.querySelectorAll(".gnode").forEach(function (e) { e.classList.remove("faded"); });
  }
  function select(i) {
    if (selected === i) { unselect(); return; }
    selected = i; hotPath = null;
    var info = P[i], box = $("paths"), name = N[i].name;
    box.innerHTML = "";
    var count = typeof info.count === "string" ? info.count : info.count.toLocaleString("en");
    h("p", null, info.paths.length + (info.truncated ? " of " + count : "") + " path" +
      (info.count === 1 ? "" : "s") + " from " + rootName + " to " + name +
      (info.truncated ? "" : " (all of them)") + ":", box);
    if (info.truncated) {
      h("p", "cap", "There are " + count + " paths; only the first " + info.paths.length +
        " are listed (max_paths=" + D.max_paths + "). The number of paths can grow " +
        "exponentially with depth: backprop never lists them, it sums them layer by layer.", box);
    }
    info.paths.forEach(function (p, q) {
      var names = [rootName].concat(p.rows.map(function (k) { return N[R[k].operand].name; }));
      var factors = p.rows.map(function (k) { return R[k].local; });
      var div = h("div", "path", null, box);
      div.setAttribute("data-product", p.product == null ? "null" : p.product);
      div.setAttribute("data-rows", p.rows.join(" "));
      div.textContent = names.join(" \u2192 ") + ":  " + factors.join(" \u00D7 ") +
        (p.productText ? " = " + p.productText : "");
      div.title = p.rows.map(function (k) { return R[k].formula; }).join("\n");
      div.addEventListener("mouseenter", function () { hotPath = q; render(); });
      div.addEventListener("mouseleave", function () { hotPath = null; render(); });
    });
    var s = h("div", "sum", null, box);
    if (info.sum != null) {
      s.textContent = (info.truncated ? "these paths sum to " : "sum of the products = ") +
        info.sumText + (info.truncated ? "; all " + count + " give " : " = ") + name +
        ".grad = " + info.gradText;
    } else {
      s.textContent = name + ".grad = " + info.gradText + ": the sum over these paths of the " +
        "products of local Jacobians (applied as vector-Jacobian products).";
    }
    render();
  }
  function unselect() {
    selected = null; hotPath = null;
    var box = $("paths");
    box.innerHTML = "<p class='hint'>Click a parameter to see every path from the output to it.</p>";
    box.removeAttribute("data-node");
    render();
  }

  // ----- controls ------------------------------------------------------------------------
  function go(k) {
    cur = Math.max(0, Math.min(S.length - 1, k));
    render();
  }
  function stop() {
    if (timer) { clearInterval(timer); timer = null; }
    $("play").textContent = "\u25B6 play";
  }
  function play() {
    if (timer) { stop(); return; }
    if (cur >= S.length - 1) go(0);
    $("play").textContent = "\u275A\u275A pause";
    timer = setInterval(function () {
      if (cur >= S.length - 1) { stop(); return; }
      go(cur + 1);
    }, +$("speed").value);
  }
  $("speed").addEventListener("change", function () {
    if (timer) { stop(); play(); }
  });
  $("slider").max = S.length - 1;
  $("slider").addEventListener("input", function () { stop(); go(+this.value); });
  $("first").addEventListener("click", function () { stop(); go(0); });
  $("prev").addEventListener("click", function () { stop(); go(cur - 1); });
  $("next").addEventListener("click", function () { stop(); go(cur + 1); });
  $("last").addEventListener("click", function () { stop(); go(S.length - 1); });
  $("play").addEventListener("click", play);
  $("zoomin").addEventListener("click", function () { scale *= 1.25; applyScale(); });
  $("zoomout").addEventListener("click", function () { scale /= 1.25; applyScale(); });
  $("fit").addEventListener("click", fit);
  $("canvas").addEventListener("click", function () { if (selected != null) unselect(); });
  document.addEventListener("keydown", function (e) {
    var tag = e.target && e.target.tagName;
    if (tag === "INPUT" || tag === "SELECT") return;  // the slider and the speed move themselves
    var k = e.key;
    if (k === "ArrowRight" || k === "ArrowDown") { stop(); go(cur + 1); }
    else if (k === "ArrowLeft" || k === "ArrowUp") { stop(); go(cur - 1); }
    else if (k === "Home") { stop(); go(0); }
    else if (k === "End") { stop(); go(S.length - 1); }
    else if (k === " ") { play(); }
    else if (k === "Escape") { if (selected != null) unselect(); }
    else return;
    e.preventDefault();
  });
  draw();
  var c = $("canvas");
  if (layout.width > c.clientWidth || layout.height > c.clientHeight) {
    fit();
    if (scale < 0.8) { scale = 0.8; applyScale(); }  // readable text; the canvas scrolls
  }
  window.chainruleExplorer = { steps: S.length, go: go, current: function () { return cur; },
    select: select, toggleGroup: toggleGroup };
})();
