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

// Offline help: the service worker keeps the shop and the lessons of a module once one is opened;
// a form marked data-offline-queue (adding to the cart, a quiz answer, a stock or price edit) sent
// without connection waits in the phone until the connection returns. Each queued form carries its
// Idempotency-Key (a form marked data-offline-queue="each" gets a new one per submission: each is
// a new change), so sending it twice counts once.
(function () {
  var QUEUE = "mc-queued-forms";
  function queued() {
    try { return JSON.parse(localStorage.getItem(QUEUE) || "[]"); } catch (e) { return []; }
  }
  function save(items) { localStorage.setItem(QUEUE, JSON.stringify(items)); }
  function show(text, labels) {
    var box = document.querySelector(".queued");
    if (!box) { return; }
    box.hidden = !text;
    box.textContent = text || "";
    if (labels && labels.length) {
      var list = document.createElement("ul");
      labels.forEach(function (label) {
        var li = document.createElement("li");
        li.textContent = label;
        list.appendChild(li);
      });
      box.appendChild(list);
    }
  }
  function describe() {
    var items = queued();
    var n = items.length;
    var labels = items.map(function (item) { return item.label || ""; }).filter(Boolean);
    if (!navigator.onLine) {
      show(n ? "Sin conexión. " + n + " envío(s) guardado(s) en el teléfono: se enviarán al volver la señal."
             : "Sin conexión: puede ver lo que el teléfono guardó.", labels);
    } else {
      show(n ? "Enviando " + n + " envío(s) guardado(s)…" : "", labels);
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
          if (!queued().length) { show("Sus envíos guardados en el teléfono se enviaron."); return; }
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
      var data = new FormData(form);
      var id = String(Date.now()) + String(Math.random()).slice(2);
      if (form.getAttribute("data-offline-queue") === "each") {  // a new change: a key of its own
        data.set("idempotency_key", (data.get("idempotency_key") || "q") + id.replace(/\D/g, "").slice(-16));
      }
      var items = queued();
      items.push({id: id, url: form.getAttribute("action"), body: new URLSearchParams(data).toString(),
                  label: form.getAttribute("data-offline-label") || ""});
      save(items);
      describe();
    });
  });
  // leaving the account: what the phone kept of her pages and forms is hers, not the next person's
  Array.prototype.forEach.call(document.querySelectorAll("form[action='/salir']"), function (form) {
    form.addEventListener("submit", function () {
      localStorage.removeItem(QUEUE);
      if (navigator.serviceWorker && navigator.serviceWorker.controller) {
        navigator.serviceWorker.controller.postMessage({forget: true});
      }
    });
  });
  window.addEventListener("online", flush);
  window.addEventListener("offline", describe);
  flush();
})();

// The point's QR form: where the browser has a BarcodeDetector the photo is read on the phone and
// the pickup confirmed with its code; elsewhere the photo goes to the server, which reads it.
(function () {
  if (!("BarcodeDetector" in window) || !window.createImageBitmap) { return; }
  Array.prototype.forEach.call(document.querySelectorAll("form[data-scan]"), function (form) {
    var input = form.querySelector("input[type=file]");
    input.addEventListener("change", function () {
      if (!input.files.length) { return; }
      var detector = new window.BarcodeDetector({formats: ["qr_code"]});
      createImageBitmap(input.files[0]).then(function (bitmap) { return detector.detect(bitmap); })
        .then(function (found) {
          var match = found.length && /^MC-RECOJO:([A-Za-z0-9_.:-]{1,64}):([A-Z0-9]{4,32})$/.exec(found[0].rawValue);
          var item = match && form.parentNode.querySelector("li[data-order-id='" + match[1] + "'] form");
          if (!item) { form.submit(); return; }  // the server reads it and says what is wrong
          item.querySelector("input[name=pickup_code]").value = match[2];
          item.submit();
        })
        .catch(function () { form.submit(); });
    });
  });
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
