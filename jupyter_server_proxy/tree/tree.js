// nbclassic tree view: list jupyter-server-proxy's apps in the "New" dropdown.
// Each item opens the app in a new browser tab. Titles go through jQuery's .text(), so nothing
// from the server is ever parsed as HTML.
define(["jquery", "base/js/namespace", "base/js/utils"], function ($, Jupyter, utils) {
  "use strict";

  function addItems(baseUrl, processes) {
    var menu = $("#new-menu");
    var enabled = processes.filter(function (p) {
      return p && typeof p.name === "string" && p.launcher_entry && p.launcher_entry.enabled;
    });
    if (!menu.length || !enabled.length) {
      return;
    }
    menu.append($("<li>").attr("role", "none").addClass("divider"));
    menu.append($("<li>").attr("role", "none").addClass("dropdown-header").text("Server apps"));
    enabled.forEach(function (p) {
      var entry = p.launcher_entry;
      var link = $("<a>")
        .attr({
          role: "menuitem",
          tabindex: "-1",
          href: baseUrl + String(entry.path_info || p.name + "/"),
          target: "_blank",
          rel: "noopener"
        })
        .text(String(entry.title || p.name));
      if (typeof entry.icon_url === "string" && entry.icon_url) {
        link.prepend(
          $("<img>")
            .attr({ src: entry.icon_url, alt: "", width: 16, height: 16 })
            .css({ "margin-right": "6px", "vertical-align": "text-bottom" })
        );
      }
      menu.append(
        $("<li>").attr({ role: "none", "data-server-proxy": p.name }).append(link)
      );
    });
  }

  function load_ipython_extension() {
    var baseUrl = utils.get_body_data("baseUrl");
    $.getJSON(baseUrl + "server-proxy/servers-info")
      .done(function (data) {
        if (data && Array.isArray(data.server_processes)) {
          addItems(baseUrl, data.server_processes);
        }
      })
      .fail(function (xhr) {
        console.warn("jupyter-server-proxy: servers-info answered", xhr.status);
      });
  }

  return { load_ipython_extension: load_ipython_extension };
});
