/**
 * The Agreement and refinement section: how well a variable is coded against a reference (the
 * review's verdicts or a blind coder's codes) per prompt version, with intervals, how the
 * model's confidence relates to being right, and how the coders agree with each other; then a
 * refinement proposed from the judged values (the researcher's corrections as examples and
 * notes as rules, or the model's own proposal), edited and accepted as a new prompt version.
 */
import {
  RefinementMethod,
  RefinementStatus,
  type AgreementReport,
  type Calibration,
  type Project,
  type Refinement,
} from "@coderai/sdk";

import { element, onSubmit, row, showError } from "./dom.js";
import { api } from "./session.js";
import { valueText } from "./values.js";

const POLL_MS = 500;

const ui = {
  section: element("agreement", HTMLElement),
  form: element("agreement-form", HTMLFormElement),
  variable: element("agreement-variable", HTMLSelectElement),
  reference: element("agreement-reference", HTMLInputElement),
  coders: element("agreement-coders", HTMLDataListElement),
  status: element("agreement-status", HTMLParagraphElement),
  error: element("agreement-error", HTMLParagraphElement),
  reports: element("agreement-reports", HTMLDivElement),
  actions: element("refine-actions", HTMLDivElement),
  proposeRules: element("propose-rules", HTMLButtonElement),
  proposeAgent: element("propose-agent", HTMLButtonElement),
  proposal: element("proposal-form", HTMLFormElement),
  proposalTitle: element("proposal-title", HTMLParagraphElement),
  rationale: element("proposal-rationale", HTMLParagraphElement),
  instructions: element("proposal-instructions", HTMLTextAreaElement),
  rules: element("proposal-rules", HTMLOListElement),
  examples: element("proposal-examples", HTMLParagraphElement),
  compareForm: element("compare-form", HTMLFormElement),
  compareBase: element("compare-base", HTMLInputElement),
  compareNew: element("compare-new", HTMLInputElement),
  heldOut: element("compare-held-out", HTMLInputElement),
  comparison: element("comparison", HTMLParagraphElement),
  comparisonReports: element("comparison-reports", HTMLDivElement),
};

let project: Project | undefined;
let proposal: Refinement | undefined;

export async function showAgreement(chosen: Project | undefined): Promise<void> {
  project = chosen;
  ui.section.hidden = chosen === undefined;
  ui.reports.replaceChildren();
  ui.actions.hidden = true;
  ui.proposal.hidden = true;
  if (chosen === undefined) return;
  const [{ variables }, { codes }] = await Promise.all([
    api.schema.listVariables({ projectId: chosen.id }),
    api.quality.listCodes({ projectId: chosen.id }),
  ]);
  ui.variable.replaceChildren(...variables.map((v) => new Option(v.displayName || v.name, v.id)));
  const coders = ["review", ...new Set(codes.map((code) => code.coder))];
  ui.coders.replaceChildren(...coders.map((coder) => new Option(coder)));
}

function fixed(value: number | undefined): string {
  return value === undefined ? "—" : value.toFixed(3);
}

function reportTable(report: AgreementReport): HTMLElement {
  const table = document.createElement("table");
  table.className = "agreement-report";
  table.dataset.compared = report.compared;
  const compared =
    report.compared === "model" ? `model (prompt version ${report.promptVersion})` : report.compared;
  const caption = table.createCaption();
  caption.textContent =
    `${compared} against ${report.reference}: ${report.units} ${report.units === 1 ? "unit" : "units"}` +
    (report.missing ? ` (${report.missing} coded by one of them only, left out)` : "");
  const head = table.createTHead().insertRow();
  for (const name of ["Measure", "Value", "95 % interval", "Units"]) {
    head.append(Object.assign(document.createElement("th"), { scope: "col", textContent: name }));
  }
  const body = table.createTBody();
  for (const measure of report.measures) {
    const interval = measure.undefinedReason
      ? measure.undefinedReason
      : measure.ciLow === undefined
        ? "—"
        : `${fixed(measure.ciLow)} to ${fixed(measure.ciHigh)}`;
    const line = row(measure.name, fixed(measure.value), interval, String(measure.units));
    line.dataset.measure = measure.name;
    body.append(line);
  }
  const box = document.createElement("div");
  box.append(table);
  if (report.calibration?.units) {
    box.append(calibrationText(report.calibration));
  }
  return box;
}

function calibrationText(calibration: Calibration): HTMLParagraphElement {
  const text = document.createElement("p");
  text.className = "hint";
  text.dataset.testid = "calibration";
  let words =
    `Confidence: over ${calibration.units} values, the expected calibration error is ` +
    `${fixed(calibration.expectedCalibrationError)}. `;
  if (calibration.proposedThreshold === undefined) {
    words += `No confidence threshold reaches a precision of ${calibration.targetPrecision} on these units.`;
  } else {
    words +=
      `Proposed threshold ${calibration.proposedThreshold}: the values at or above it are right ` +
      `${Math.round((calibration.precisionAtThreshold ?? 0) * 100)}% of the time ` +
      `(${Math.round((calibration.coverageAtThreshold ?? 0) * 100)}% of values); ` +
      `${calibration.toReview} below it would go to review. The variable's threshold is ` +
      `${calibration.currentThreshold} until you change it.`;
  }
  text.textContent = words;
  return text;
}

onSubmit(ui.form, ui.error, async () => {
  const result = await api.quality.getAgreement({
    variableId: ui.variable.value,
    reference: ui.reference.value.trim(),
  });
  const reports = [...result.model, ...result.coders];
  ui.reports.replaceChildren(...reports.map(reportTable));
  ui.actions.hidden = result.model.length === 0;
  ui.proposal.hidden = true;
  const unusable = result.unusableVerdicts
    ? ` ${result.unusableVerdicts} verdicts give no code (partly correct without the right value).`
    : "";
  ui.status.textContent = reports.length
    ? `Agreement with ${ui.reference.value.trim() || "review"}.${unusable}`
    : `Nothing to compare yet: review values or code a sample.${unusable}`;
});

async function propose(method: RefinementMethod): Promise<void> {
  showError(ui.error, undefined);
  let { refinement } = await api.quality.proposeRefinement({
    variableId: ui.variable.value,
    method,
    reference: ui.reference.value.trim(),
  });
  while (refinement?.status === RefinementStatus.PENDING) {
    ui.status.textContent = `The model is proposing better instructions (job ${refinement.jobId})…`;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    ({ refinement } = await api.quality.getRefinement({ refinementId: refinement.id }));
  }
  if (refinement === undefined) throw new Error("ProposeRefinement came back empty");
  if (refinement.status === RefinementStatus.FAILED) throw new Error(refinement.error);
  showProposal(refinement);
}

function showProposal(refinement: Refinement): void {
  proposal = refinement;
  ui.proposalTitle.textContent =
    `Proposal from prompt version ${refinement.baseVersion}: made from ` +
    `${refinement.trainingUnits.length} judged units; ${refinement.heldOutUnits.length} are held ` +
    "out to measure it after the sample is run again.";
  ui.rationale.textContent = refinement.rationale;
  ui.instructions.value = refinement.instructions;
  ui.rules.replaceChildren(
    ...(refinement.guidance?.rules ?? []).map((rule) =>
      Object.assign(document.createElement("li"), { textContent: rule }),
    ),
  );
  const examples = refinement.guidance?.examples ?? [];
  ui.examples.textContent = examples.length
    ? `${examples.length} worked examples, e.g. “${examples[0]?.excerpt}” is ` +
      `${valueText(examples[0]?.value)}, not ${valueText(examples[0]?.notValue)}.`
    : "No worked examples.";
  ui.proposal.hidden = false;
  ui.status.textContent = "A proposal is ready: edit the instructions if you like, then accept it.";
  ui.instructions.focus();
}

for (const [button, method] of [
  [ui.proposeRules, RefinementMethod.RULES],
  [ui.proposeAgent, RefinementMethod.AGENT],
] as const) {
  button.addEventListener("click", () => {
    button.disabled = true;
    propose(method)
      .catch((error: unknown) => showError(ui.error, error))
      .finally(() => (button.disabled = false));
  });
}

onSubmit(ui.compareForm, ui.error, async () => {
  const variableId = ui.variable.value;
  let refinementId = "";
  if (ui.heldOut.checked) {
    const { refinements } = await api.quality.listRefinements({ variableId });
    const accepted = refinements.find((r) => r.status === RefinementStatus.ACCEPTED);
    if (accepted === undefined) {
      throw new Error("No refinement of this variable has been accepted: compare every unit instead.");
    }
    refinementId = accepted.id;
  }
  const compared = await api.quality.comparePromptVersions({
    variableId,
    reference: ui.reference.value.trim(),
    baseVersion: Number(ui.compareBase.value),
    newVersion: Number(ui.compareNew.value || 0),
    refinementId,
  });
  const change = (share: number) => `${share >= 0 ? "+" : ""}${Math.round(share * 100)} points`;
  const interval = `${change(compared.changeCiLow)} to ${change(compared.changeCiHigh)}`;
  const evidence =
    compared.changeCiLow > 0 || compared.changeCiHigh < 0
      ? "the interval does not include 0"
      : "the interval includes 0: this may be noise, not progress";
  ui.comparison.textContent =
    `On ${compared.pairedUnits} units${refinementId ? " held out from the refinement" : ""}, ` +
    `agreement changed by ${change(compared.agreementChange)} (95 % interval ${interval}; ` +
    `${evidence}); ${compared.changes.length} values changed.`;
  ui.comparisonReports.replaceChildren(
    ...[compared.base, compared.new].flatMap((report) => (report ? [reportTable(report)] : [])),
  );
});

onSubmit(ui.proposal, ui.error, async () => {
  if (proposal === undefined) return;
  const edited = ui.instructions.value !== proposal.instructions;
  const accepted = await api.quality.acceptRefinement({
    refinementId: proposal.id,
    instructions: edited ? ui.instructions.value : undefined,
  });
  ui.proposal.hidden = true;
  ui.status.textContent =
    `Prompt version ${accepted.promptVersion} is active: run the sample again, then compare ` +
    "the versions on the held-out units.";
});
