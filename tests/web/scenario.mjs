// What the browser scenarios of tests/web share: their command line, Debian's Chromium driven
// through playwright-core, a page that records its own errors, signing in and choosing the
// project, waiting for something unless the page shows an error first, saving a download, and
// a screenshot whatever happens. A scenario exits 0, or 1 with what went wrong.
import assert from "node:assert/strict";
import path from "node:path";
import { parseArgs } from "node:util";

import { chromium } from "playwright-core";

const OPTIONS = {
  url: { type: "string" },
  email: { type: "string" },
  password: { type: "string" },
  project: { type: "string" },
  screenshot: { type: "string" },
  "download-dir": { type: "string" },
  chromium: { type: "string", default: "/usr/bin/chromium" },
  "timeout-ms": { type: "string", default: "60000" },
  // "no": the scenario starts signed out (and signs in or registers itself).
  "sign-in": { type: "string", default: "yes" },
};

/** The command line: the options every scenario takes and its own `extra` ones (strings, all
 * required); exits 2 when one is missing. */
export function scenarioOptions(extra = {}) {
  const { values } = parseArgs({ options: { ...OPTIONS, ...extra } });
  for (const name of Object.keys({ ...OPTIONS, ...extra })) {
    if (!values[name]) {
      console.error(`--${name} is required`);
      process.exit(2);
    }
  }
  return values;
}

/** Opens --url, signs in and chooses --project (unless --sign-in no), then runs `scenario(page)`. The scenario fails
 * too when the page logged an error or a request failed; the screenshot is taken either way. */
export async function runScenario(options, success, scenario) {
  const browser = await chromium.launch({ executablePath: options.chromium });
  let failure;
  let page;
  try {
    page = await browser.newPage({ viewport: { width: 900, height: 720 } });
    page.setDefaultTimeout(Number(options["timeout-ms"]));
    const problems = [];
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(`console error: ${message.text()}`);
    });
    page.on("response", (response) => {
      if (response.status() >= 400) problems.push(`HTTP ${response.status()} ${response.url()}`);
    });

    await page.goto(options.url);
    if (options["sign-in"] !== "no") {
      await signIn(page, options.email, options.password);
      await page.getByLabel("Project", { exact: true }).selectOption({ label: options.project });
    }

    await scenario(page);
    assert.deepEqual(problems, [], "no errors in the page");
  } catch (error) {
    failure = error;
  } finally {
    if (page) {
      await page.screenshot({ path: options.screenshot, fullPage: true }).catch((error) => {
        console.error(`no screenshot: ${error.message}`);
      });
    }
    await browser.close();
  }
  if (failure) {
    console.error(`FAILED: ${failure.stack ?? failure}`);
    process.exit(1);
  }
  console.log(success);
}

/** Signs in through the form, by labels and roles as a screen reader finds them. */
export async function signIn(page, email, password) {
  await page.getByLabel("Email", { exact: true }).fill(email);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.getByTestId("signed-in-as").waitFor();
}

/** Waits for `promise`, or fails as soon as the page shows an error (role "alert"). */
export function unlessAlert(page, promise) {
  const alert = page.getByRole("alert").first();
  const shown = alert.waitFor().then(async () => {
    throw new Error(`the page shows an error: ${await alert.innerText()}`);
  });
  return Promise.race([promise, shown]);
}

/** Clicks the export button named `format`, saves the file the page hands to the browser in
 * `directory` and prints where ("downloaded: PATH"); its path. */
export async function saveExport(page, format, directory) {
  const [download] = await unlessAlert(
    page,
    Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: format, exact: true }).click(),
    ]),
  );
  const saved = path.join(directory, download.suggestedFilename());
  await download.saveAs(saved);
  console.log(`downloaded: ${saved}`);
  await page.getByTestId("export-status").filter({ hasText: /^Saved / }).waitFor();
  return saved;
}

/** The results table of the project, found by its caption. */
export function resultsTable(page, project) {
  return page.getByRole("table", { name: `Results of ${project}` });
}
