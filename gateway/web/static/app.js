// The one small script: fills the consumer's location (if she allows it) to sort delivery points,
// and shows a print button on the printable lists. Everything works without it.
(function () {
  var locate = document.getElementById("locate");
  if (locate && navigator.geolocation) {
    locate.hidden = false;
    locate.addEventListener("click", function () {
      navigator.geolocation.getCurrentPosition(function (pos) {
        document.getElementById("lat").value = pos.coords.latitude.toFixed(5);
        document.getElementById("lon").value = pos.coords.longitude.toFixed(5);
        document.getElementById("where").submit();
      });
    });
  }
  var print = document.getElementById("print");
  if (print) {
    print.hidden = false;
    print.addEventListener("click", function () { window.print(); });
  }
})();

// Offline help: the service worker keeps the lessons of a module once one is opened, and a quiz
// answered without connection waits in the phone until the connection returns. Each queued answer
// carries the Idempotency-Key of its form, so sending it twice counts once.
(function () {
  var QUEUE = "mc-queued-forms";
  function queued() {
    try { return JSON.parse(localStorage.getItem(QUEUE) || "[]"); } catch (e) { return []; }
  }
  function save(items) { localStorage.setItem(QUEUE, JSON.stringify(items)); }
  function show(text) {
    var box = document.querySelector(".queued");
    if (box) { box.hidden = !text; box.textContent = text || ""; }
  }
  function describe() {
    var n = queued().length;
    if (!navigator.onLine) {
      show(n ? "Sin conexión. " + n + " respuesta(s) guardada(s) en el teléfono: se enviarán al volver la señal."
             : "Sin conexión: puede leer las lecciones guardadas.");
    } else {
      show(n ? "Enviando " + n + " respuesta(s) guardada(s)…" : "");
    }
  }
  function flush() {
    var items = queued();
    if (!items.length || !navigator.onLine) { describe(); return; }
    var item = items[0];
    fetch(item.url, {method: "POST", body: item.body, credentials: "same-origin",
                     headers: {"Content-Type": "application/x-www-form-urlencoded"}})
      .then(function (response) {
        if (response.ok || response.redirected || response.status < 500) {
          save(queued().filter(function (other) { return other.id !== item.id; }));
          if (!queued().length) { show("Sus respuestas guardadas se enviaron."); return; }
          flush();
        }
      })
      .catch(function () { describe(); });
  }
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js").then(function () {
      var list = document.getElementById("precache");
      if (!list) { return; }
      var urls = Array.prototype.map.call(list.querySelectorAll("[data-url]"),
                                          function (li) { return li.getAttribute("data-url"); });
      navigator.serviceWorker.ready.then(function (registration) {
        if (registration.active) { registration.active.postMessage({precache: urls}); }
      });
    }).catch(function () {});
  }
  Array.prototype.forEach.call(document.querySelectorAll("form[data-offline-queue]"), function (form) {
    form.addEventListener("submit", function (event) {
      if (navigator.onLine) { return; }
      event.preventDefault();
      var body = new URLSearchParams(new FormData(form)).toString();
      var items = queued();
      items.push({id: String(Date.now()) + Math.random(), url: form.getAttribute("action"), body: body});
      save(items);
      describe();
    });
  });
  window.addEventListener("online", flush);
  window.addEventListener("offline", describe);
  flush();
})();
