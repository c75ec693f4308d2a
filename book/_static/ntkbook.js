/* ntk-notebooks book: in print, shrink display formulas and tables that are wider than the page.
   A formula cannot wrap and a scroll bar does not print: without this, print would cut them off. */
(() => {
  const selector = 'article.bd-article mjx-container[display="true"], article.bd-article table';
  function unfit() {
    for (const el of document.querySelectorAll(selector)) el.style.zoom = "";
  }
  function fit() {
    unfit();
    const article = document.querySelector("article.bd-article");
    if (!article) return;
    const edge = article.getBoundingClientRect().right;
    for (const el of document.querySelectorAll(selector)) {
      if (el.parentElement.closest("table, mjx-container")) continue;   // the outer one is scaled
      const box = el.getBoundingClientRect();
      const avail = Math.min(edge, el.parentElement.getBoundingClientRect().right) - box.left;
      const need = Math.max(box.width, el.scrollWidth);
      if (avail > 0 && need > avail + 1) el.style.zoom = String(Math.floor((avail / need) * 1000) / 1000);
    }
  }
  const print = window.matchMedia("print");
  print.addEventListener("change", (e) => (e.matches ? fit() : unfit()));
  window.addEventListener("beforeprint", fit);
  window.addEventListener("afterprint", unfit);
})();
