// Draws each page's Plotly figures from their JSON blocks and wires the SVG download buttons.
// Served from the dashboard itself (the Content-Security-Policy allows no other script).
(function () {
  "use strict";
  document.querySelectorAll(".plotly-figure").forEach(function (el) {
    var spec = JSON.parse(document.getElementById(el.dataset.figure).textContent);
    el.dataset.filename = spec.filename;
    Plotly.newPlot(el, spec.data, spec.layout, spec.config);
  });
  document.querySelectorAll("button.svg-download").forEach(function (button) {
    button.addEventListener("click", function () {
      var el = document.getElementById(button.dataset.plot);
      Plotly.downloadImage(el, {format: "svg", filename: el.dataset.filename, width: el.offsetWidth, height: 420});
    });
  });
})();
