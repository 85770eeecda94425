// The self-check report: a link to a finding opens its section; printing opens every
// section (and closes again the ones that were closed); the Print button.
(() => {
  const reveal = () => {
    const target = location.hash && document.getElementById(location.hash.slice(1));
    const section = target && target.closest("details");
    if (section && !section.open) {
      section.open = true;
      target.scrollIntoView();
    }
  };
  window.addEventListener("hashchange", reveal);
  document.addEventListener("DOMContentLoaded", reveal);
  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest('a[href^="#"]');
    if (link && link.hash === location.hash) reveal();
  });
  let closed = [];
  window.addEventListener("beforeprint", () => {
    closed = [...document.querySelectorAll("details.section:not([open])")];
    closed.forEach((d) => { d.open = true; });
  });
  window.addEventListener("afterprint", () => {
    closed.forEach((d) => { d.open = false; });
    closed = [];
  });
  document.querySelectorAll("[data-print]").forEach((button) => {
    button.hidden = false;
    button.addEventListener("click", () => window.print());
  });
})();
