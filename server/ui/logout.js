// The signed-out page's bounded wait (OpenID Connect Front-Channel
// Logout 1.0 §4). The page loads each RP's frontchannel_logout_uri in an
// iframe and then continues to the post_logout_redirect_uri. Without
// script, <meta http-equiv="refresh"> does that once the page and all its
// iframes have loaded, so an RP whose logout page never finishes loading
// would hold the browser here. This script continues at the window's
// load event (every iframe loaded) or after the wait the page names in
// data-wait-ms, whichever comes first. Served from 'self' under the
// page's CSP (script-src 'self', no inline script); without it the
// refresh and the Continue link still work.
(function () {
  "use strict";
  var link = document.getElementById("continue");
  if (!link || !link.href) {
    return;
  }
  var target = link.href;
  var gone = false;
  function go() {
    if (!gone) {
      gone = true;
      window.location.replace(target);
    }
  }
  var wait = parseInt(link.getAttribute("data-wait-ms"), 10);
  if (!(wait >= 0)) {
    wait = 3000;
  }
  window.setTimeout(go, wait);
  if (document.readyState === "complete") {
    go();
  } else {
    window.addEventListener("load", go);
  }
})();
