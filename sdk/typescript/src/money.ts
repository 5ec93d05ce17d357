import type { Money } from "./gen/google/type/money_pb.js";

/**
 * A Money field (US dollars) as a number for display, e.g. `dollars(job.cost)?.toFixed(4)`;
 * undefined when the field is unset (no price, no budget). The exact amount is the message's
 * units and nanos.
 */
export function dollars(money: Money | undefined): number | undefined {
  if (money === undefined) return undefined;
  if (money.currencyCode !== "" && money.currencyCode !== "USD") {
    throw new Error(`expected US dollars, got ${money.currencyCode}`);
  }
  return Number(money.units) + money.nanos / 1e9;
}
