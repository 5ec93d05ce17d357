import { create } from "@bufbuild/protobuf";

import { type Money, MoneySchema } from "./gen/google/type/money_pb.js";

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

/**
 * An amount of US dollars written in decimal ("2.50") as a Money message, exactly; an Error for
 * text that is not a non-negative amount with at most nine decimal places.
 */
export function usd(amount: string): Money {
  const match = /^\s*(\d+)(?:\.(\d{1,9}))?\s*$/.exec(amount);
  if (match === null) {
    throw new Error(`not an amount of US dollars: ${JSON.stringify(amount)}`);
  }
  const [, units, fraction = ""] = match;
  return create(MoneySchema, {
    currencyCode: "USD",
    units: BigInt(units),
    nanos: Number(fraction.padEnd(9, "0")),
  });
}
