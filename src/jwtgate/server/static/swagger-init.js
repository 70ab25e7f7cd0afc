// Starts Swagger UI from the settings the server put on #swagger-ui (data-config, JSON): a file of
// its own rather than an inline script, so the page's Content-Security-Policy needs no 'unsafe-inline'.
const element = document.getElementById("swagger-ui");
const config = JSON.parse(element.dataset.config);
const ui = SwaggerUIBundle({
  url: config.openapiUrl,
  oauth2RedirectUrl: window.location.origin + config.oauth2RedirectUrl,
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  // The online validator would send the schema to a third party: off.
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  ...config.parameters,
});
if (config.initOAuth) ui.initOAuth(config.initOAuth);
window.ui = ui;
