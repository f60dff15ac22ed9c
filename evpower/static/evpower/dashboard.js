// The live dashboard: renders the snapshot, then applies the server's pushed
// updates (only the stations that changed) without reloading the page.
(function () {
  "use strict";
  var T = window.EVP.text;
  var stations = new Map();
  var energy = null;

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) { node.append(c); });
    return node;
  }

  function localTime(iso, zone) {
    if (!iso) return "—";
    try {
      return new Date(iso).toLocaleString(window.EVP.lang, { timeZone: zone, hour12: false }) + " " + zone;
    } catch (e) { return iso; }
  }

  function stationCard(s) {
    var card = el("article", { "class": "station", "data-station": s.station_id, id: "station-" + s.id });
    card.append(el("header", {}, [
      el("h3", {}, [s.station_id]),
      el("span", { "class": "pill " + (s.online ? "on" : "off"), "data-role": "online" }, [s.online ? T.online : T.offline])
    ]));
    card.append(el("div", { "class": "sub" }, [[s.vendor, s.model].filter(Boolean).join(" · ") || "\u00a0"]));
    var connectors = el("div", { "data-role": "connectors" });
    s.connectors.forEach(function (c) {
      connectors.append(el("span", {
        "class": "pill s-" + (c.status || ""), "data-connector": String(c.connector_id), "data-status": c.status
      }, [c.connector_id + ": " + (c.status || "?") + (c.error_code && c.error_code !== "NoError" ? " (" + c.error_code + ")" : "")]));
    });
    card.append(connectors);
    if (s.sessions.length) {
      var table = el("table", { "class": "sessions", "data-role": "sessions" });
      s.sessions.forEach(function (x) {
        table.append(el("tr", { "data-session": String(x.id) }, [
          el("td", {}, ["#" + x.connector_id]),
          el("td", {}, [x.id_tag]),
          el("td", {}, [x.status]),
          el("td", { "class": "num", "data-role": "energy" }, [x.energy_kwh + " kWh"]),
          el("td", { "class": "num" }, [x.cost + " " + x.currency]),
          el("td", { title: T.started }, [localTime(x.started_at, s.time_zone)])
        ]));
      });
      card.append(table);
    } else {
      card.append(el("div", { "class": "muted" }, [T.noSession]));
    }
    return card;
  }

  function renderStations() {
    var box = document.getElementById("stations");
    box.replaceChildren.apply(box, Array.from(stations.values()).sort(function (a, b) {
      return a.station_id < b.station_id ? -1 : 1;
    }).map(stationCard));
    document.getElementById("station-count").textContent = stations.size + " " + T.stations;
  }

  function renderEnergy() {
    var box = document.getElementById("energy-chart");
    var values = energy.hours.map(Number);
    var max = Math.max.apply(null, values.concat([0.001]));
    var W = 960, H = 180, pad = 24, bw = (W - pad) / 24;
    var svg = ['<svg viewBox="0 0 ' + W + " " + H + '" preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg">'];
    values.forEach(function (v, h) {
      var bh = (H - 2 * pad) * v / max;
      svg.push('<rect class="bar" data-hour="' + h + '" x="' + (pad + h * bw + 2) + '" y="' + (H - pad - bh) +
        '" width="' + (bw - 4) + '" height="' + bh + '"><title>' + h + ":00 — " + v.toFixed(3) + ' kWh</title></rect>');
      if (h % 3 === 0) svg.push('<text x="' + (pad + h * bw + 2) + '" y="' + (H - 8) + '">' + h + ":00</text>");
    });
    svg.push('<text x="0" y="12">' + max.toFixed(max < 10 ? 2 : 0) + " kWh</text></svg>");
    box.innerHTML = svg.join("");
    document.getElementById("energy-total").textContent = energy.total_kwh + " kWh";
    document.getElementById("energy-zone").textContent = T.zone + " " + energy.time_zone + ", " + energy.date;
  }

  function apply(update) {
    if (update.full) stations.clear();
    update.stations.forEach(function (s) { stations.set(s.id, s); });
    energy = update.energy;
    renderStations();
    renderEnergy();
  }

  var state = document.getElementById("live-state");
  function connect() {
    var ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/live/dashboard");
    ws.onopen = function () { state.dataset.state = "live"; state.textContent = T.live; };
    ws.onmessage = function (event) { apply(JSON.parse(event.data)); };
    ws.onclose = function () {
      state.dataset.state = "down"; state.textContent = T.reconnecting;
      setTimeout(connect, 3000);
    };
  }

  var snapshot = JSON.parse(document.getElementById("snapshot").textContent);
  apply({ full: true, stations: snapshot.stations, energy: snapshot.energy });
  connect();
})();
