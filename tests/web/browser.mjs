// The page in web/ driven in headless Chromium (Debian's, through playwright-core): sign in,
// pick the project, start a sample job, wait for job_completed in the event list, check the
// events came in order, take a screenshot. Exits 0, or 1 with what went wrong.
//
//   node tests/web/browser.mjs --url http://127.0.0.1:PORT/ --email E --password P \
//     --project NAME --documents N --screenshot out.png [--chromium /usr/bin/chromium]
import assert from "node:assert/strict";
import { parseArgs } from "node:util";

import { chromium } from "playwright-core";

const { values: options } = parseArgs({
  options: {
    url: { type: "string" },
    email: { type: "string" },
    password: { type: "string" },
    project: { type: "string" },
    documents: { type: "string" },
    screenshot: { type: "string" },
    chromium: { type: "string", default: "/usr/bin/chromium" },
    "timeout-ms": { type: "string", default: "60000" },
  },
});
for (const name of ["url", "email", "password", "project", "documents", "screenshot"]) {
  if (!options[name]) {
    console.error(`--${name} is required`);
    process.exit(2);
  }
}
const documents = Number(options.documents);
const timeout = Number(options["timeout-ms"]);

const browser = await chromium.launch({ executablePath: options.chromium });
let failure;
let page;
try {
  page = await browser.newPage({ viewport: { width: 900, height: 720 } });
  page.setDefaultTimeout(timeout);
  const problems = [];
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console error: ${message.text()}`);
  });
  page.on("response", (response) => {
    if (response.status() >= 400) problems.push(`HTTP ${response.status()} ${response.url()}`);
  });

  await page.goto(options.url);
  // By their labels and roles, as a screen reader finds them.
  await page.getByLabel("Email").fill(options.email);
  await page.getByLabel("Password").fill(options.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByTestId("signed-in-as").waitFor();
  await page.getByLabel("Project").selectOption({ label: options.project });
  await page.getByRole("button", { name: "Start sample job" }).click();

  const events = page.getByTestId("events");
  await Promise.race([
    events.locator('[data-event-type="job_completed"]').waitFor(),
    page
      .getByRole("alert")
      .waitFor()
      .then(async () => {
        throw new Error(`the page shows an error: ${await page.getByRole("alert").innerText()}`);
      }),
  ]);

  const shown = await events
    .getByTestId("event")
    .evaluateAll((items) => items.map(({ dataset }) => [dataset.eventType, dataset.eventId]));
  const kinds = shown.map(([kind]) => kind);
  console.log(`events in the page: ${kinds.join(", ")}`);
  // Redis stream ids, "milliseconds-sequence": the events after the snapshot in stream order.
  const order = shown.slice(1).map(([, id]) => id.split("-").map(BigInt));
  order.slice(1).forEach(([ms, seq], index) => {
    const [previousMs, previousSeq] = order[index];
    assert.ok(ms > previousMs || (ms === previousMs && seq > previousSeq), "ids increase");
  });
  assert.equal(kinds[0], "snapshot", "the first event is the snapshot");
  assert.equal(kinds.at(-1), "job_completed", "the last event is job_completed");
  assert.equal(kinds.indexOf("job_completed"), kinds.length - 1, "job_completed comes once");
  assert.equal(
    kinds.filter((kind) => kind === "document_completed").length,
    documents,
    "one document_completed per document",
  );
  assert.equal(await page.getByTestId("progress").evaluate((bar) => bar.value), 100);
  assert.match(await page.getByTestId("job-status").innerText(), /^COMPLETED/);
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
console.log("the page showed the job from its snapshot to job_completed, in order");
