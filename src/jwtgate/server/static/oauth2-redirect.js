// Swagger UI's OAuth2 redirect page script (swagger-ui-dist oauth2-redirect.html, Apache-2.0, as
// FastAPI ships it), moved out of the page so that its CSP needs no inline script. Only the
// authorization-code and implicit flows use it: it hands the authorization server's answer back to
// the Swagger UI window that opened this one, then closes.
"use strict";

function run() {
  const oauth2 = window.opener.swaggerUIRedirectOauth2;
  const sentState = oauth2.state;
  const redirectUrl = oauth2.redirectUrl;
  let query;
  if (/code|token|error/.test(window.location.hash)) {
    query = window.location.hash.substring(1).replace("?", "&");
  } else {
    query = window.location.search.substring(1);
  }
  const params = Object.fromEntries(new URLSearchParams(query));
  const isValid = params.state === sentState;
  const flow = oauth2.auth.schema.get("flow");
  const codeFlow = flow === "accessCode" || flow === "authorizationCode" || flow === "authorization_code";

  if (codeFlow && !oauth2.auth.code) {
    if (!isValid) {
      oauth2.errCb({
        authId: oauth2.auth.name,
        source: "auth",
        level: "warning",
        message:
          "Authorization may be unsafe, passed state was changed in server. " +
          "The passed state wasn't returned from auth server.",
      });
    }
    if (params.code) {
      delete oauth2.state;
      oauth2.auth.code = params.code;
      oauth2.callback({ auth: oauth2.auth, redirectUrl: redirectUrl });
    } else {
      let message;
      if (params.error) {
        message =
          "[" + params.error + "]: " +
          (params.error_description ? params.error_description + ". " : "no accessCode received from the server. ") +
          (params.error_uri ? "More info: " + params.error_uri : "");
      }
      oauth2.errCb({
        authId: oauth2.auth.name,
        source: "auth",
        level: "error",
        message: message || "[Authorization failed]: no accessCode received from the server.",
      });
    }
  } else {
    oauth2.callback({ auth: oauth2.auth, token: params, isValid: isValid, redirectUrl: redirectUrl });
  }
  window.close();
}

if (document.readyState !== "loading") run();
else document.addEventListener("DOMContentLoaded", run);
