// The page in web/ driven in headless Chromium (scenario.mjs): sign in, pick the project,
// start a sample job, wait for job_completed in the event list, check the events came in
// order, check the results table, download the CSV (wide) export into --download-dir and print
// where it was saved ("downloaded: PATH"), take a screenshot. Exits 0, or 1 with what went
// wrong.
//
//   node tests/web/browser.mjs --url http://127.0.0.1:PORT/ --email E --password P \
//     --project NAME --documents N --screenshot out.png --download-dir DIR \
//     [--chromium /usr/bin/chromium]
import assert from "node:assert/strict";

import {
  resultsTable,
  runScenario,
  saveExport,
  scenarioOptions,
  unlessAlert,
} from "./scenario.mjs";

const options = scenarioOptions({ documents: { type: "string" } });
const documents = Number(options.documents);

const success =
  "the page showed the job from its snapshot to job_completed, in order, then its results, " +
  "and saved the CSV (wide) export";

await runScenario(options, success, async (page) => {
  await page.getByRole("button", { name: "Start sample job" }).click();

  const events = page.getByTestId("events");
  await unlessAlert(page, events.locator('[data-event-type="job_completed"]').waitFor());

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

  // The results table, refreshed when the job ended: a row per document, values in cells.
  const results = resultsTable(page, options.project);
  await unlessAlert(page, results.locator("td .value").first().waitFor());
  const rows = results.locator("tbody tr");
  assert.equal(await rows.count(), documents, "one row per document");
  const values = await results.locator("td .value").allInnerTexts();
  assert.ok(values.some((text) => text.trim() !== ""), "a cell shows a value");
  console.log(`results table: ${await rows.count()} rows, values ${values.join(" | ")}`);

  // The CSV (wide) export, downloaded through the gateway and saved by the browser.
  await saveExport(page, "CSV (wide)", options["download-dir"]);
});
