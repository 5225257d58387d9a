// Opens a proctrail report in headless Chromium and times what a user does with it: the page
// ready (its self-check written), panning, zooming, scrolling the rows and a search. Prints
// one JSON object. Used by bench/report_scale.py; needs playwright-core (its folder in
// PLAYWRIGHT_DIR) and Debian's chromium.
//
//   node bench/report_probe.js PAGE.html
"use strict";
const path = require("path");
const { chromium } = require(path.join(process.env.PLAYWRIGHT_DIR, "node_modules", "playwright-core"));

(async () => {
  const page_path = path.resolve(process.argv[2]);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const t0 = Date.now();
    await page.goto("file://" + page_path);
    await page.waitForSelector("#selfcheck[data-drawn]", { timeout: 600000 });
    const ready_ms = Date.now() - t0;
    const result = await page.evaluate(async () => {
      const check = document.getElementById("selfcheck").dataset;
      // Each action runs draw() in its handler, synchronously: the time of the dispatch is
      // the time the page was busy with it.
      const time = (fn) => {
        const t = performance.now();
        fn();
        return performance.now() - t;
      };
      const key = (k) => () => window.dispatchEvent(new KeyboardEvent("keydown", { key: k }));
      const runs = { pan: [], zoom_in: [], zoom_out: [], scroll: [], search: [] };
      for (let i = 0; i < 20; i++) runs.pan.push(time(key("d")));
      for (let i = 0; i < 10; i++) runs.zoom_in.push(time(key("w")));
      for (let i = 0; i < 10; i++) runs.zoom_out.push(time(key("s")));
      const scroller = document.querySelector("#scroller") || document.querySelector(".scroller");
      for (let i = 0; i < 20 && scroller; i++) {
        runs.scroll.push(time(() => {
          scroller.scrollTop += 4000;
          scroller.dispatchEvent(new Event("scroll"));
        }));
      }
      const search = document.getElementById("search");
      for (const text of ["t", "tr", "true", "no-such-command"]) {
        runs.search.push(time(() => {
          search.value = text;
          search.dispatchEvent(new Event("input"));
        }));
      }
      return { processes: Number(check.processes), drawn: Number(check.drawn), runs };
    });
    result.ready_ms = ready_ms;
    console.log(JSON.stringify(result));
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error("report_probe: " + e.message);
  process.exit(1);
});
