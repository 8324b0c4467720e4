// Renders openapi.json as a plain list of operations. Served beside the page
// (no CDN, no inline script: the gateway's CSP forbids both).
"use strict";
(function () {
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) {
      e.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return e;
  }
  function resolve(spec, schema) {
    if (schema && schema.$ref) {
      var name = schema.$ref.split("/").pop();
      return { name: name, schema: spec.components.schemas[name] };
    }
    return { name: null, schema: schema };
  }
  function schemaBlock(spec, schema) {
    var r = resolve(spec, schema);
    var text = (r.name ? r.name + " " : "") + JSON.stringify(r.schema, null, 2);
    return el("pre", {}, [text]);
  }
  function render(spec) {
    var root = document.getElementById("spec");
    root.textContent = "";
    root.appendChild(el("p", {}, [(spec.info && spec.info.description) || ""]));
    Object.keys(spec.paths).sort().forEach(function (path) {
      var item = spec.paths[path];
      ["get", "post", "put", "delete", "patch"].forEach(function (method) {
        var op = item[method];
        if (!op) return;
        var section = el("section", { class: "op" }, [
          el("h2", {}, [el("span", { class: "method " + method }, [method]), el("code", {}, [path])]),
          el("p", {}, [op.summary || op.description || ""]),
        ]);
        if (op.parameters && op.parameters.length) {
          var rows = op.parameters.map(function (p) {
            return el("tr", {}, [el("td", {}, [el("code", {}, [p.name])]), el("td", {}, [p.in]),
              el("td", {}, [p.required ? "required" : "optional"]), el("td", {}, [p.description || ""])]);
          });
          section.appendChild(el("table", {}, [el("tr", {}, [el("th", {}, ["Parameter"]), el("th", {}, ["In"]),
            el("th", {}, [""]), el("th", {}, ["Description"])])].concat(rows)));
        }
        if (op.requestBody && op.requestBody.content) {
          var body = op.requestBody.content["application/json"];
          section.appendChild(el("h3", {}, ["Request body"]));
          if (body && body.schema) section.appendChild(schemaBlock(spec, body.schema));
          else if (op.requestBody.description) section.appendChild(el("p", {}, [op.requestBody.description]));
        }
        var responses = op.responses || {};
        section.appendChild(el("h3", {}, ["Responses"]));
        Object.keys(responses).forEach(function (status) {
          var resp = responses[status];
          section.appendChild(el("p", {}, [el("strong", {}, [status]), " " + (resp.description || "")]));
          var json = resp.content && resp.content["application/json"];
          if (json && json.schema && status.charAt(0) === "2") section.appendChild(schemaBlock(spec, json.schema));
        });
        root.appendChild(section);
      });
    });
  }
  fetch("openapi.json").then(function (r) { return r.json(); }).then(render).catch(function (e) {
    document.getElementById("spec").textContent = "Could not load openapi.json: " + e;
  });
})();
