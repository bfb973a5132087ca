// Starts Swagger UI on /docs (a file, not an inline script: the Content-Security-Policy allows
// scripts from this server's files only). The document's URL is in data-spec.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({ url: root.dataset.spec, dom_id: "#swagger-ui", persistAuthorization: true });
})();
