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
  function what() {  // "respuesta(s)" on a lesson, what the page's box names elsewhere (data-what)
    var box = document.querySelector(".queued");
    return (box && box.getAttribute("data-what")) || "respuesta(s)";
  }
  function describe() {
    var n = queued().length;
    if (!navigator.onLine) {
      show(n ? "Sin conexión. " + n + " " + what() + " guardada(s) en el teléfono: se enviarán al volver la señal."
             : (document.querySelector(".queued[data-offline]") || {getAttribute: function () {
                 return "Sin conexión: puede leer las lecciones guardadas."; }}).getAttribute("data-offline"));
    } else {
      show(n ? "Enviando " + n + " " + what() + " guardada(s)…" : "");
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
          if (!queued().length) {
            var box = document.querySelector(".queued");
            show((box && box.getAttribute("data-sent")) || "Sus respuestas guardadas se enviaron.");
            return;
          }
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

// A product's photo from the phone's camera is downscaled here (longest side 1024 px, JPEG) before it
// travels, so a 4 MB picture goes as ~100 KB; without this script the original goes and the server
// still checks it. Beside the price, the municipality's reference price and fair band for the
// product and unit being typed.
(function () {
  var MAX_SIDE = 1024;
  Array.prototype.forEach.call(document.querySelectorAll("form[data-photo-form]"), function (form) {
    var input = form.querySelector("input[type=file]");
    var note = form.querySelector("#photo-note");
    form.addEventListener("submit", function (event) {
      var file = input && input.files && input.files[0];
      if (!file || !window.createImageBitmap || !window.fetch) { return; }
      event.preventDefault();
      if (note) { note.textContent = "Preparando la foto…"; }
      createImageBitmap(file).then(function (bitmap) {
        var scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
        var canvas = document.createElement("canvas");
        canvas.width = Math.round(bitmap.width * scale);
        canvas.height = Math.round(bitmap.height * scale);
        canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
        return new Promise(function (done) { canvas.toBlob(done, "image/jpeg", 0.8); });
      }).then(function (blob) {
        var data = new FormData(form);
        data.set(input.name, blob, "foto.jpg");
        if (note) { note.textContent = "Enviando…"; }
        return fetch(form.getAttribute("action"), {method: "POST", body: data, credentials: "same-origin"});
      }).then(function (response) {
        return response.text().then(function (html) {
          if (response.redirected) { window.location.href = response.url; return; }
          document.open(); document.write(html); document.close();
        });
      }).catch(function () { form.submit(); });
    });
  });

  var refs = document.getElementById("references");
  var hint = document.getElementById("ref-hint");
  var productForm = document.getElementById("product-form");
  if (!refs || !hint || !productForm) { return; }
  function fold(text) {
    return (text || "").normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase().trim().replace(/\s+/g, " ");
  }
  function show() {
    var name = fold(productForm.elements.name.value), category = productForm.elements.category.value,
        unit = productForm.elements.unit.value, found = null;
    Array.prototype.forEach.call(refs.querySelectorAll("tr[data-unit]"), function (row) {
      if (row.getAttribute("data-unit") !== unit) { return; }
      var named = row.getAttribute("data-name");
      if (named && fold(named) === name) { found = row; }
      else if (!named && !found && row.getAttribute("data-category") === category) { found = row; }
    });
    hint.textContent = found ? "Referencia del municipio: " + found.getAttribute("data-price") + " por " + unit +
      (found.getAttribute("data-band") ? " · banda justa " + found.getAttribute("data-band") : "") : "";
  }
  ["name", "category", "unit"].forEach(function (field) {
    productForm.elements[field].addEventListener("change", show);
  });
  show();
})();
