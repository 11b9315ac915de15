// Sesame console: small improvements over plain forms; every screen works without this file.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Ask before an irreversible action (deleting a user, removing a link).
  for (const f of document.querySelectorAll("form[data-confirm]")) {
    f.addEventListener("submit", (e) => {
      if (!window.confirm(f.dataset.confirm)) e.preventDefault();
    });
  }
  // The import's progress: refresh the page while the file is being processed.
  const p = document.querySelector("[data-import-running]");
  if (p) setTimeout(() => window.location.reload(), 1500);
  // A menu (<details>) closes with Escape and when focus leaves it.
  for (const d of document.querySelectorAll("details.menu")) {
    d.addEventListener("keydown", (e) => {
      if (e.key === "Escape") { d.open = false; d.querySelector("summary").focus(); }
    });
    d.addEventListener("focusout", (e) => { if (!d.contains(e.relatedTarget)) d.open = false; });
  }
});
