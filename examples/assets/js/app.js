// The demo app's script.
document.addEventListener("DOMContentLoaded", () => {
  document.body.classList.add("ready");
});
