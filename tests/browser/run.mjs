// Opens tests/browser/page.html from its own origin in headless Chromium (Debian's, never a
// downloaded one) and prints the page's result as one JSON line. Run by tests/browser.rs:
//   node run.mjs <chromium path> <page URL>
import { chromium } from "playwright-core";

const [executablePath, url] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath,
  headless: true,
  // This machine has no network beyond 127.0.0.1: keep Chromium from reaching out.
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage();
  const console_ = [];
  page.on("console", (m) => console_.push(m.text()));
  await page.goto(url);
  await page.waitForFunction(() => window.__result !== undefined, null, { timeout: 60000 });
  const result = await page.evaluate(() => window.__result);
  result.console = console_;
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}
