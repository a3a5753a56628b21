// Charts of the station and gun pages (ECharts): the transformer load curve with its 50 % and
// 80 % lines, and a gun's live voltage, current and power, polled from the page's JSON URL.
(function () {
  "use strict";

  function fetchJson(url) {
    // X-JC-Poll: an automatic refresh, which never keeps an unattended login alive (access.py)
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json", "X-JC-Poll": "1" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); });
  }

  function loadChart(el) {
    var chart = echarts.init(el);
    function line(y, name, color) {
      return { yAxis: y, name: name, lineStyle: { color: color, type: "dashed" }, label: { formatter: name } };
    }
    function draw() {
      fetchJson(el.dataset.src).then(function (d) {
        chart.setOption({
          animation: false,
          tooltip: { trigger: "axis" },
          xAxis: { type: "time" },
          yAxis: { type: "value", name: "%", min: 0, max: function (v) { return Math.max(100, Math.ceil(v.max / 10) * 10); } },
          series: [{
            name: el.dataset.series, type: "line", showSymbol: false, data: d.points,
            markLine: { symbol: "none", data: [line(d.cap_pct, el.dataset.capLabel, "#d98c00"),
                                               line(d.block_pct, el.dataset.blockLabel, "#c00")] }
          }]
        });
        el.dataset.points = String(d.points.length);
      }).catch(function () {});
    }
    draw();
    setInterval(draw, 60000);
  }

  function liveChart(el) {
    var chart = echarts.init(el);
    var v = [], a = [], p = [];
    var keep = 120;
    chart.setOption({
      animation: false,
      tooltip: { trigger: "axis" },
      legend: { data: [el.dataset.v, el.dataset.a, el.dataset.p] },
      xAxis: { type: "time" },
      yAxis: [{ type: "value", name: "V / A" }, { type: "value", name: "kW" }],
      series: [{ name: el.dataset.v, type: "line", showSymbol: false, data: v },
               { name: el.dataset.a, type: "line", showSymbol: false, data: a },
               { name: el.dataset.p, type: "line", showSymbol: false, yAxisIndex: 1, data: p }]
    });
    function push(list, t, value) {
      if (value === null || value === undefined) { return; }
      list.push([t, value]);
      if (list.length > keep) { list.shift(); }
    }
    function set(id, value) {
      var node = document.getElementById(id);
      if (node) { node.textContent = value === null || value === undefined ? "" : String(value); }
    }
    function poll() {
      fetchJson(el.dataset.src).then(function (d) {
        var t = Date.now();
        push(v, t, d.voltage_v);
        push(a, t, d.current_a);
        push(p, t, d.power_w === null || d.power_w === undefined ? null : d.power_w / 1000);
        chart.setOption({ series: [{ data: v }, { data: a }, { data: p }] });
        set("live-state", d.state_label);
        set("live-power", d.power_w);
        set("live-voltage", d.voltage_v);
        set("live-current", d.current_a);
        set("live-soc", d.soc);
        if (d.orderly_text) {
          set("orderly-status", d.orderly_text.status);
          set("orderly-delivered", d.orderly_text.delivered);
          set("orderly-expected", d.orderly_text.expected);
          set("orderly-acceptance", d.orderly_text.acceptance);
        }
        el.dataset.polls = String(Number(el.dataset.polls || "0") + 1);
      }).catch(function () {});
    }
    poll();
    setInterval(poll, Number(el.dataset.every || "5000"));
  }

  // htmx swaps only 2xx answers; a form marked data-swap-errors shows its refusal (a 4xx with
  // the reason in words) in its target too.
  document.addEventListener("htmx:beforeSwap", function (e) {
    var form = e.detail.requestConfig && e.detail.requestConfig.elt;
    if (form && form.hasAttribute("data-swap-errors") && e.detail.xhr.status >= 400 && e.detail.xhr.status < 500) {
      e.detail.shouldSwap = true;
      e.detail.isError = false;
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    var load = document.getElementById("load-chart");
    if (load) { loadChart(load); }
    var live = document.getElementById("live-chart");
    if (live) { liveChart(live); }
  });
}());
