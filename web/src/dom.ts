/** What every section of the page needs: its elements, a place for errors, whole answers. */
import { Code, ConnectError } from "@coderai/sdk";

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
