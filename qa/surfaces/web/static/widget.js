// The qa widget for a newsroom page: put this script and a placeholder on the page,
//   <script src="https://qa.example.org/embed/widget.js" defer></script>
//   <div data-qa-widget data-article="STORY-ID" data-topic="…" data-since="2025-01-01"></div>
// and the placeholder becomes the widget (an iframe from the qa server), answering from that
// story first (data-article), reading questions with the page's topic (data-topic), from
// articles since a date (data-since). All optional. Nothing else is loaded from anywhere.
(function () {
  "use strict";
  var script = document.currentScript;
  var base = new URL("./", script ? script.src : location.href).href;
  function mount(el) {
    if (el.getAttribute("data-qa-mounted")) return;
    el.setAttribute("data-qa-mounted", "1");
    var params = new URLSearchParams();
    ["article", "topic", "since"].forEach(function (key) {
      var value = el.getAttribute("data-" + key);
      if (value) params.set(key, value);
    });
    var frame = document.createElement("iframe");
    var query = params.toString();
    frame.src = base + (query ? "?" + query : "");
    frame.title = el.getAttribute("data-title") || "Ask about this story";
    frame.loading = "lazy";
    frame.style.width = "100%";
    frame.style.height = el.getAttribute("data-height") || "560px";
    frame.style.border = "1px solid #d1d5db";
    frame.style.borderRadius = "8px";
    el.appendChild(frame);
  }
  function mountAll() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-qa-widget]"), mount);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", mountAll);
  } else {
    mountAll();
  }
})();
