// Drives headless Chromium (Debian's /usr/bin/chromium, through
// playwright-core installed by scripts/test.sh into target/browser-node)
// for tests/browser.rs: one command per line on standard input, one
// answer per line on standard output (`ok ...` or `err ...`), so the Rust
// test decides when to cut, throttle or reload between the steps.
//
//   open URL          load the page; answer when the upload panel is shown
//   pick SELECTOR FILE   give FILE to the file input SELECTOR
//   state NAME        the upload row of NAME: its data-state and status text
//   wait-done NAME SECS  wait until NAME's row is done (or failed)
//   shot PATH         a PNG of the page
//   reload            reload the page and wait for the panel
//   eval JS           the JSON of evaluating JS in the page
//   wait-for SECS JS  wait until JS is truthy in the page
//   problems          the console errors and warnings so far (JSON)
//   quit
//
// Environment: BROWSER_NODE (the npm prefix holding playwright-core),
// CHROMIUM (default /usr/bin/chromium).
import { createRequire } from "node:module";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

const require = createRequire(join(process.env.BROWSER_NODE, "node_modules") + "/");
const { chromium } = require("playwright-core");

const profile = mkdtempSync(join(tmpdir(), "wsresume-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 900, height: 560 },
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
const page = context.pages()[0] ?? (await context.newPage());
const problems = [];
page.on("console", (m) => {
  if (m.type() === "error" || m.type() === "warning") problems.push(`${m.type()}: ${m.text()}`);
});
page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));

const say = (line) => process.stdout.write(line.replace(/\n/g, " ") + "\n");
const row = (name) => page.locator("#wsr-files li", { hasText: name }).last();

async function panelShown() {
  await page.waitForSelector("#wsr-upload:not([hidden])", { timeout: 30_000 });
}

async function rowState(name) {
  const li = row(name);
  if ((await li.count()) === 0) return "none -";
  const state = (await li.getAttribute("data-state")) ?? "new";
  const text = await li.locator(".wsr-status").textContent();
  return `${state} ${text}`;
}

async function run(cmd, rest) {
  switch (cmd) {
    case "open":
      await page.goto(rest, { waitUntil: "load" });
      await panelShown();
      return "";
    case "reload":
      await page.reload({ waitUntil: "load" });
      await panelShown();
      return "";
    case "pick": {
      const [selector, ...file] = rest.split(" ");
      await page.setInputFiles(selector, file.join(" "));
      return "";
    }
    case "state":
      return rowState(rest);
    case "wait-done": {
      const [name, secs] = rest.split(" ");
      await page.waitForFunction(
        (n) => [...document.querySelectorAll("#wsr-files li")].some(
          (li) => li.querySelector(".wsr-name").textContent === n && ["done", "failed"].includes(li.dataset.state),
        ),
        name,
        { timeout: Number(secs) * 1000, polling: 100 },
      );
      return rowState(name);
    }
    case "shot":
      await page.screenshot({ path: rest, fullPage: true });
      return "";
    case "eval":
      return JSON.stringify(await page.evaluate(rest));
    case "wait-for": {
      // Polled with evaluate (waitForFunction would eval a string, which
      // the page's CSP forbids).
      const at = rest.indexOf(" ");
      const deadline = Date.now() + Number(rest.slice(0, at)) * 1000;
      while (!(await page.evaluate(rest.slice(at + 1)))) {
        if (Date.now() > deadline) throw new Error(`timed out: ${rest}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      return "";
    }
    case "problems":
      return JSON.stringify(problems);
    default:
      throw new Error(`unknown command ${cmd}`);
  }
}

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const at = line.indexOf(" ");
  const [cmd, rest] = at < 0 ? [line, ""] : [line.slice(0, at), line.slice(at + 1)];
  if (cmd === "quit") break;
  try {
    say(`ok ${await run(cmd, rest)}`);
  } catch (e) {
    say(`err ${e.message}`);
  }
}
await context.close();
rmSync(profile, { recursive: true, force: true });
