// Mercado Corto's service worker: the shop (the last catalogue seen, the cart), a producer's list of
// products and the lessons read once stay readable offline. Network first; the cache answers only when the network fails. Pages
// ask it to keep a module's lessons ({precache: [urls]}).
var CACHE = "mc-capacitacion-v1";
var KEPT = ["/capacitacion", "/static/"];
var SHOP = ["/", "/carrito", "/productor"];  // the shop, and a producer's list to edit offline

function kept(url) {
  return url.origin === self.location.origin && !/\.pdf$/.test(url.pathname) &&
    (SHOP.indexOf(url.pathname) >= 0 ||
     KEPT.some(function (prefix) { return url.pathname.indexOf(prefix) === 0; }));
}

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

self.addEventListener("message", function (event) {
  var data = event.data || {};
  if (data.precache) {
    event.waitUntil(caches.open(CACHE).then(function (cache) {
      return Promise.all(data.precache.map(function (url) {
        return fetch(url, {credentials: "same-origin"}).then(function (response) {
          if (response.ok) { return cache.put(url, response); }
        }).catch(function () { return null; });
      }));
    }));
  }
  if (data.forget) { event.waitUntil(caches.delete(CACHE)); }
});

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET" || !kept(new URL(request.url))) { return; }
  event.respondWith(fetch(request).then(function (response) {
    if (response.ok) {
      var copy = response.clone();
      caches.open(CACHE).then(function (cache) { cache.put(request, copy); });
    }
    return response;
  }).catch(function () {
    return caches.match(request, {ignoreSearch: true}).then(function (cached) {
      return cached || new Response("<!doctype html><meta charset=utf-8><title>Sin conexión</title>" +
        "<p>Sin conexión: esta página no se guardó en el teléfono. Vuelva a intentarlo con señal.</p>",
        {status: 503, headers: {"Content-Type": "text/html; charset=utf-8"}});
    });
  }));
});
