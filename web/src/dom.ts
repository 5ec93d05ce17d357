/** What every section of the page needs: its elements, a place for errors, whole answers,
 * forms that report the server's complaints at the fields concerned, small tables. */
import { Code, ConnectError, fieldViolations } from "@coderai/sdk";

/** The element with this id, checked to be of this type: a page and script out of step fail
 * at load, not at the first click. */
export function element<T extends HTMLElement>(id: string, type: new () => T): T {
  const found = document.getElementById(id);
  if (!(found instanceof type)) {
    throw new Error(`#${id} is not a ${type.name}`);
  }
  return found;
}

/** Shows what went wrong in an alert region; `undefined` hides the region. */
export function showError(alert: HTMLElement, error: unknown): void {
  alert.hidden = error === undefined;
  if (error instanceof ConnectError) {
    alert.textContent = `${Code[error.code]}: ${error.rawMessage}`;
  } else if (error instanceof Error) {
    alert.textContent = error.message;
  } else if (error !== undefined) {
    alert.textContent = String(error);
  }
}

/** A message's field the server must send, or an error naming the call that left it out. */
export function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) {
    throw new Error(`${what} came back empty`);
  }
  return value;
}

/**
 * Runs a form's action on submit with its buttons disabled. The server's complaints about
 * fields are shown beside the inputs whose data-field is the violation's path (after
 * `prefix`, e.g. "variable."), with aria-invalid set; the rest go to the alert.
 */
export function onSubmit(
  form: HTMLFormElement,
  alert: HTMLElement,
  action: (submitter: HTMLElement | null) => Promise<void>,
  prefix = "",
): void {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const buttons = [...form.querySelectorAll("button")];
    buttons.forEach((button) => (button.disabled = true));
    clearFieldErrors(form);
    showError(alert, undefined);
    action(event.submitter)
      .catch((error: unknown) => {
        const unplaced = showFieldErrors(form, error, prefix);
        if (unplaced) showError(alert, error);
      })
      .finally(() => buttons.forEach((button) => (button.disabled = false)));
  });
}

function clearFieldErrors(form: HTMLFormElement): void {
  form.querySelectorAll(".field-error").forEach((message) => message.remove());
  form.querySelectorAll<HTMLElement>("[aria-invalid]").forEach((input) => {
    input.removeAttribute("aria-invalid");
    if (input.dataset.hint) {
      input.setAttribute("aria-describedby", input.dataset.hint);
    } else {
      input.removeAttribute("aria-describedby");
    }
  });
}

/** Places each field violation at its input; true when some could not be placed. */
function showFieldErrors(form: HTMLFormElement, error: unknown, prefix: string): boolean {
  const violations = fieldViolations(error);
  let unplaced = violations.length === 0;
  let first: HTMLElement | undefined;
  for (const [index, violation] of violations.entries()) {
    const path = violation.field.startsWith(prefix)
      ? violation.field.slice(prefix.length)
      : violation.field;
    const input = form.querySelector<HTMLElement>(`[data-field="${CSS.escape(path)}"]`);
    if (!input) {
      unplaced = true;
      continue;
    }
    const message = document.createElement("span");
    message.className = "field-error error";
    message.id = `${form.id}-error-${index}`;
    message.dataset.testid = "field-error";
    message.textContent = violation.description;
    input.after(message);
    input.setAttribute("aria-invalid", "true");
    // An input's own hint (data-hint: its id) still describes it, after the complaint.
    input.setAttribute("aria-describedby", [message.id, input.dataset.hint].filter(Boolean).join(" "));
    first ??= input;
  }
  first?.focus();
  return unplaced;
}

/** A table row of cells (text or nodes). */
export function row(...cells: (string | Node)[]): HTMLTableRowElement {
  const tr = document.createElement("tr");
  for (const content of cells) {
    const td = document.createElement("td");
    td.append(content);
    tr.append(td);
  }
  return tr;
}

/** A button that runs `action`, showing a failure in `alert`. */
export function button(label: string, alert: HTMLElement, action: () => Promise<void>): HTMLButtonElement {
  const made = document.createElement("button");
  made.type = "button";
  made.textContent = label;
  made.addEventListener("click", () => {
    made.disabled = true;
    showError(alert, undefined);
    action()
      .catch((error: unknown) => showError(alert, error))
      .finally(() => (made.disabled = false));
  });
  return made;
}
