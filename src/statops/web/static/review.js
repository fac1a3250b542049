// The coding page's keys: 1-9 pick a code, Enter confirms (the form's default button), u uncodable,
// s skip, n not in the base (where the page has that button). Keys typed into a text field are left alone.
(function () {
  "use strict";
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (target && (target.tagName === "TEXTAREA" || (target.tagName === "INPUT" &&
        target.type !== "radio" && target.type !== "checkbox"))) return;
    var key = event.key;
    if (key >= "1" && key <= "9") {
      var radio = document.querySelector('input[type="radio"][data-key="' + key + '"]');
      if (radio) {
        radio.checked = true;
        radio.focus();
        event.preventDefault();
      }
    } else if (key === "u" || key === "s" || key === "n") {
      var button = document.getElementById({u: "uncodable", s: "skip", n: "not-in-base"}[key]);
      if (button) {
        event.preventDefault();
        button.click();
      }
    } else if (key === "Enter" && target && target.type === "radio") {
      event.preventDefault();
      document.getElementById("confirm").click();
    }
  });
})();
