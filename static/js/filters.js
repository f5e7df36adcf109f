// The list's filters fold away on a phone (a <details> closed by default there) and stay open
// on a wider screen, where they fit beside each other.
(function () {
  var wide = window.matchMedia("(min-width: 40rem)");
  function apply() {
    document.querySelectorAll("details[data-fold-filters]").forEach(function (details) {
      if (wide.matches) details.open = true;
    });
  }
  apply();
  wide.addEventListener("change", apply);
})();
