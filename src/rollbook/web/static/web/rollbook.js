// Row selection on directory lists; everything else is plain HTML and htmx.
document.addEventListener("change", (event) => {
  const box = event.target;
  const form = box.closest && box.closest("form.selection");
  if (!form) return;
  const rows = form.querySelectorAll('input[name="ids"]');
  if (box.matches("[data-select-page]")) {
    rows.forEach((row) => { row.checked = box.checked; });
  } else if (box.id === "select-all" && box.checked) {
    rows.forEach((row) => { row.checked = true; });
    const page = form.querySelector("[data-select-page]");
    if (page) page.checked = true;
  } else if (box.name === "ids" && !box.checked) {
    const all = form.querySelector("#select-all");
    if (all) all.checked = false;
    const page = form.querySelector("[data-select-page]");
    if (page) page.checked = false;
  }
});
