(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("review-data").textContent);
  var commandBox = document.getElementById("choose-command");
  var status = document.getElementById("copy-status");

  function keeperOf(section) {
    var picked = document.querySelector('input[name="keeper-' + section.index + '"]:checked');
    return picked ? parseInt(picked.value, 10) : section.main_take;
  }

  function choices() {
    return data.sections.map(function (s) {
      return { index: s.index, section: s.slug, name: s.name, take: keeperOf(s) };
    });
  }

  function command() {
    var parts = [];
    choices().forEach(function (c, i) {
      if (c.take !== data.sections[i].main_take) { parts.push(c.section + " " + c.take); }
    });
    return parts.length ? data.command + " " + parts.join(" ") : "";
  }

  function refresh() {
    document.querySelectorAll("section.row").forEach(function (row) {
      var picked = row.querySelector("input[type=radio]:checked");
      row.querySelectorAll("article.take").forEach(function (card) {
        card.classList.toggle("keeper", !!picked && card.dataset.take === picked.value);
      });
    });
    var text = command();
    commandBox.textContent = text || "No change: every section keeps the take on the main track.";
    commandBox.dataset.command = text;
  }

  function download() {
    var payload = { format: data.format, output: data.output, choices: choices() };
    var blob = new Blob([JSON.stringify(payload, null, 2) + "\n"], { type: "application/json" });
    var link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = data.file_name;
    document.body.appendChild(link);
    link.click();
    setTimeout(function () { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
    status.textContent = "saved " + data.file_name;
  }

  function copy() {
    var text = commandBox.dataset.command;
    if (!text) { status.textContent = "nothing to copy"; return; }
    var range = document.createRange();
    range.selectNodeContents(commandBox);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    var done = function () { status.textContent = "copied"; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { status.textContent = "selected: press Ctrl+C"; });
    } else {
      try { document.execCommand("copy"); done(); } catch (e) { status.textContent = "selected: press Ctrl+C"; }
    }
  }

  // Players come alive (source, poster, controls) only near the screen, so a long batch opens at once;
  // nothing of a clip is read before it is played (preload="none").
  function activate(video) {
    if (video.dataset.poster) { video.poster = video.dataset.poster; }
    video.src = video.dataset.src;
    video.controls = true;
  }
  var players = document.querySelectorAll("video.player[data-src]");
  if ("IntersectionObserver" in window) {
    var observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        if (entry.isIntersecting) { activate(entry.target); observer.unobserve(entry.target); }
      });
    }, { rootMargin: "800px 0px" });
    players.forEach(function (video) { observer.observe(video); });
  } else {
    players.forEach(activate);
  }

  document.addEventListener("change", function (event) {
    if (event.target.matches('input[type=radio][name^="keeper-"]')) { refresh(); }
  });
  document.addEventListener("play", function (event) {
    document.querySelectorAll("video.player").forEach(function (v) { if (v !== event.target) { v.pause(); } });
  }, true);
  document.querySelectorAll("img.strip").forEach(function (strip) {
    strip.addEventListener("click", function (event) {
      var video = strip.parentNode.querySelector("video.player");
      if (!video.src) { activate(video); }
      var seconds = parseFloat(strip.dataset.seconds) || 0;
      var box = strip.getBoundingClientRect();
      video.currentTime = Math.max(0, Math.min(seconds, (event.clientX - box.left) / box.width * seconds));
      video.play();
    });
  });
  document.getElementById("download-choices").addEventListener("click", download);
  document.getElementById("copy-command").addEventListener("click", copy);
  refresh();
})();
