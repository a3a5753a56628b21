// The home page's map (Leaflet) and this month's chart (ECharts), from the page's JSON block.
(function () {
  "use strict";
  var COLOURS = { idle: "#2e9d5b", charging: "#1f6fd1", plugged: "#d19a1f", faulted: "#c62828",
                  offline: "#8a8a8a", unknown: "#b0b0b0" };

  function data() {
    var el = document.getElementById("home-data");
    return el ? JSON.parse(el.textContent) : null;
  }

  function drawMap(d) {
    var el = document.getElementById("map");
    if (!el || !window.L) return;
    var map = L.map(el, { attributionControl: !!el.dataset.tiles, zoomSnap: 0.5 });
    if (el.dataset.tiles) {
      L.tileLayer(el.dataset.tiles, { maxZoom: 18, attribution: el.dataset.attribution || '' }).addTo(map);
    }
    var bounds = [];
    d.points.forEach(function (p) {
      var guns = Object.keys(p.guns).map(function (k) { return (d.states[k] || k) + " " + p.guns[k]; });
      var m = L.circleMarker([p.lat, p.lng], { radius: 8, weight: 2, color: "#fff",
                                               fillColor: COLOURS[p.status] || COLOURS.unknown, fillOpacity: 0.95 });
      var tip = document.createElement("div");
      var b = document.createElement("strong");
      b.textContent = p.name + " (" + p.sid + ")";
      tip.appendChild(b);
      tip.appendChild(document.createElement("br"));
      tip.appendChild(document.createTextNode(guns.join(" · ")));
      m.bindTooltip(tip).addTo(map);
      m.getElement && m.on("add", function () { m.getElement().setAttribute("data-sid", p.sid); });
      bounds.push([p.lat, p.lng]);
    });
    if (bounds.length) {
      map.fitBounds(bounds, { padding: [30, 30], maxZoom: 13 });
    } else {
      map.setView([35.0, 105.0], 3.5);
    }
    el.setAttribute("data-ready", String(bounds.length));
  }

  function drawChart(d) {
    var el = document.getElementById("by-day");
    if (!el || !window.echarts) return;
    var chart = echarts.init(el);
    chart.setOption({
      animation: false,
      tooltip: { trigger: "axis" },
      legend: { top: 0 },
      grid: { left: 50, right: 50, top: 36, bottom: 28 },
      xAxis: { type: "category", data: d.by_day.map(function (r) { return r.date.slice(5); }) },
      yAxis: [{ type: "value", name: "¥" }, { type: "value", name: "kWh" }],
      series: [
        { name: d.labels.charging, type: "bar", data: d.by_day.map(function (r) { return r.charging_fen / 100; }) },
        { name: d.labels.energy, type: "line", yAxisIndex: 1,
          data: d.by_day.map(function (r) { return Math.round(r.energy_wh / 100) / 10; }) }
      ]
    });
    window.addEventListener("resize", function () { chart.resize(); });
    el.setAttribute("data-ready", String(d.by_day.length));
  }

  document.addEventListener("DOMContentLoaded", function () {
    var d = data();
    if (!d) return;
    drawMap(d);
    drawChart(d);
  });
})();
