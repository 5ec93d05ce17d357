// The results table and an export built by a worker, in headless Chromium (scenario.mjs):
// every kind of cell marked its own way, the cells' details by keyboard, the pages, the status
// filter, then the CSV (wide) export with metadata columns, which the page polls for while a
// worker builds it, saved into --download-dir ("downloaded: PATH"). Exits 0, or 1 with what
// went wrong.
//
//   node tests/web/results.mjs --url URL --email E --password P --project NAME \
//     --rows 26 --values doc-0.txt --failed doc-1.txt --not-found doc-2.txt \
//     --not-processed late-00.txt --screenshot out.png --download-dir DIR
import assert from "node:assert/strict";

import {
  resultsTable,
  runScenario,
  saveExport,
  scenarioOptions,
  unlessAlert,
} from "./scenario.mjs";

const PAGE_SIZE = 25;

// The rows of the dataset, and the file name of a document of each kind.
const options = scenarioOptions({
  rows: { type: "string" },
  values: { type: "string" },
  failed: { type: "string" },
  "not-found": { type: "string" },
  "not-processed": { type: "string" },
});
const rows = Number(options.rows);
assert.ok(rows > PAGE_SIZE && rows <= 2 * PAGE_SIZE, "--rows: more than one page, two at most");

const success =
  "the table marked every kind of cell, moved by keyboard, paged and filtered; the page waited " +
  "for the worker and saved the export";

await runScenario(options, success, async (page) => {
  const table = resultsTable(page, options.project);
  const status = page.getByTestId("results-status");
  const bodyRows = table.locator("tbody tr");
  const row = (filename) =>
    bodyRows.filter({ has: page.getByRole("rowheader", { name: filename, exact: true }) });
  const cells = (filename) => row(filename).locator("td");
  const looks = (filename) =>
    cells(filename).evaluateAll((found) =>
      found.map((cell) => ({
        status: cell.dataset.status,
        value: cell.querySelector(".value")?.textContent ?? "",
        marker: cell.querySelector(".marker")?.textContent ?? "",
        title: cell.title,
        background: getComputedStyle(cell).backgroundColor,
      })),
    );

  await unlessAlert(page, status.filter({ hasText: /^Page 1: 25 rows, more/ }).waitFor());
  assert.equal(await bodyRows.count(), PAGE_SIZE);
  assert.ok(await page.getByRole("button", { name: "Previous page" }).isDisabled());

  // Every kind of cell, each marked its own way, its details in its title.
  const values = await looks(options.values);
  const sure = values.find((cell) => cell.status === "SUCCESS");
  const unsure = values.find((cell) => cell.status === "LOW_CONFIDENCE");
  assert.ok(sure?.value && !sure.marker, `a sure value, unmarked: ${JSON.stringify(values)}`);
  assert.ok(unsure?.value, `a value the model was unsure of: ${JSON.stringify(values)}`);
  assert.equal(unsure.marker, "?", "an unsure value is marked ?");
  assert.match(unsure.title, /Confidence: \d+%/);
  assert.match(unsure.title, /Evidence: “.+”/);
  assert.match(unsure.title, /Evidence match: /);
  for (const cell of await looks(options.failed)) {
    assert.deepEqual([cell.status, cell.value, cell.marker], ["FAILED", "", "failed"]);
    assert.match(cell.title, /Error: ./);
  }
  const [undated] = await looks(options["not-found"]);
  assert.deepEqual([undated.status, undated.marker], ["NOT_FOUND", "not found"]);
  for (const cell of await looks(options["not-processed"])) {
    const look = [cell.status, cell.value, cell.marker];
    assert.deepEqual(look, ["NOT_PROCESSED", "", "not processed"]);
  }
  const [failed] = await looks(options.failed);
  const backgrounds = new Set([sure.background, unsure.background, failed.background]);
  assert.equal(backgrounds.size, 3, "sure, unsure and failed cells have backgrounds of their own");

  // The keyboard: one Tab into the table, the arrows between cells, the details under it.
  await page.getByRole("button", { name: "Refresh results" }).focus();
  await page.keyboard.press("Tab");
  await page.keyboard.press("ArrowRight");
  const details = page.getByTestId("cell-details");
  assert.match(await details.innerText(), new RegExp(`^${options.values} · .+: .*Confidence`));
  await page.keyboard.press("ArrowDown");
  assert.match(await details.innerText(), new RegExp(`^${options.failed} · .+: Failed · Error`));

  // The pages.
  await page.getByRole("button", { name: "Next page" }).click();
  await status.filter({ hasText: `Page 2: ${rows - PAGE_SIZE} row` }).waitFor();
  assert.equal(await bodyRows.count(), rows - PAGE_SIZE);
  assert.ok(await page.getByRole("button", { name: "Next page" }).isDisabled());
  await page.getByRole("button", { name: "Previous page" }).click();
  await status.filter({ hasText: /^Page 1: 25 rows/ }).waitFor();

  // The filter.
  await page.getByLabel("Filter by status").selectOption({ label: "Failed" });
  await status.filter({ hasText: /^Page 1: 1 row\./ }).waitFor();
  assert.deepEqual(await table.getByRole("rowheader").allInnerTexts(), [options.failed]);
  await page.getByLabel("Filter by status").selectOption({ label: "All" });
  await status.filter({ hasText: /^Page 1: 25 rows/ }).waitFor();

  // An export a worker builds: the page shows its state while it polls, then saves the file.
  await page.getByLabel("Include confidence, source and prompt version columns").check();
  const exportStatus = page.getByTestId("export-status");
  const building = exportStatus
    .filter({ hasText: /^Building the CSV \(wide\) export: (PENDING|RUNNING)/ })
    .waitFor();
  await saveExport(page, "CSV (wide)", options["download-dir"]);
  await building;
  console.log(`export status: ${await exportStatus.innerText()}`);
});
