/**
 * A Node checkout service asks Tierline which perks a cart earns, over the Connect protocol
 * with the client generated from Tierline's proto (src/gen, by `buf generate`).
 *
 * Every call has a timeout, and on any failure (timeout, refused, shed, draining, an error
 * answer) the page is priced with the baseline that every customer gets: a checkout never
 * waits on Tierline, nor fails because of it. With `make run` serving HTTP on
 * 127.0.0.1:8080, from this directory:
 *
 *     npm ci && npm run build
 *     node dist/checkout.js --customer c000042
 *     node dist/checkout.js --customer c000042 --url http://127.0.0.1:9   # nothing there
 *
 * It prints, as JSON, what the page shows for the cart (one Decide) and for the customer's
 * saved carts (one DecideBatch), each with where its decision came from: "tierline", or
 * "baseline (why)".
 */
import { parseArgs } from "node:util";
import { create } from "@bufbuild/protobuf";
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import {
  Channel,
  type DecideRequest,
  DecideRequestSchema,
  type Decision,
  DecisionSchema,
  EntitlementService,
} from "./gen/tierline/v1/entitlement_pb.js";

const USAGE = `usage: node dist/checkout.js [--customer ID] [--url URL] [--token T] [--timeout-ms N]

  --customer ID     the shopper (default c000042)
  --url URL         Tierline's HTTP listener (default http://127.0.0.1:8080)
  --token T         bearer token, when the service requires one
  --timeout-ms N    how long the page waits for each answer (default 300)`;

/** A checkout can wait a little longer than a ringing phone, but not much: past this the page
 * is priced with the baseline rather than keep the shopper watching a spinner. */
const TIMEOUT_MS = 300;

/** The default policy's baseline (rules/policy.yaml): configured here so that it holds when
 * Tierline cannot be asked. A long-running service would cache GetPolicy's `baseline` instead,
 * so that it follows the policy. Marked as the Python client marks its fallbacks. */
const BASELINE: Decision = create(DecisionSchema, {
  tier: "unknown",
  serviceLevel: {
    name: "standard",
    sla: { maxWaitSeconds: 600, callbackOffered: true, humanAgentGuaranteed: true },
  },
  routing: { queue: "general", priority: 10 },
  baselineApplied: true,
  degraded: true,
  degradedReason: "client_fallback",
});

/** A cart as the checkout holds it. Amounts are in minor units of CURRENCY, as the API takes
 * them: cents for EUR (ISO 4217 gives each currency's number of decimals; JPY has none). */
interface Cart {
  name: string;
  totalMinor: bigint;
  items: number;
}

const CURRENCY = "EUR";
const CART: Cart = { name: "cart", totalMinor: 10475n, items: 4 }; // shoes 89.90, 3 x socks 4.95
const SAVED_CARTS: Cart[] = [
  { name: "birthday gift", totalMinor: 1990n, items: 1 },
  { name: "running club kit", totalMinor: 24000n, items: 24 },
];

/** A decision and where it came from: "tierline", or "baseline (why)". */
interface Outcome {
  decision: Decision;
  source: string;
}

function cartRequest(customerId: string, cart: Cart): DecideRequest {
  return create(DecideRequestSchema, {
    customerId,
    context: {
      channel: Channel.WEB,
      intent: "purchase",
      orderValueMinor: cart.totalMinor,
      currency: CURRENCY,
      itemCount: cart.items,
    },
  });
}

function fallback(reason: string): Outcome {
  return { decision: BASELINE, source: `baseline (${reason})` };
}

/** Why a call failed, in the Connect protocol's words, e.g. "unavailable: connect ECONNREFUSED". */
function why(error: unknown): string {
  const connectError = ConnectError.from(error);
  return `${codeToString(connectError.code)}: ${connectError.rawMessage}`;
}

/** One cart for the checkout page: one Decide. */
async function decideCart(
  client: Client<typeof EntitlementService>,
  customerId: string,
  cart: Cart,
  timeoutMs: number,
): Promise<Outcome> {
  try {
    // timeoutMs both stops the wait here and tells the server (Connect-Timeout-Ms), which
    // drops the work once the page has given up on it.
    const { decision } = await client.decide(cartRequest(customerId, cart), { timeoutMs });
    return decision ? { decision, source: "tierline" } : fallback("no decision in the answer");
  } catch (error) {
    return fallback(why(error));
  }
}

/** Many carts in one DecideBatch call: each cart gets its own status, so one bad cart falls
 * back alone, and a failed call falls back for all of them. */
async function decideCarts(
  client: Client<typeof EntitlementService>,
  customerId: string,
  carts: Cart[],
  timeoutMs: number,
): Promise<Outcome[]> {
  try {
    const { results } = await client.decideBatch(
      { items: carts.map((cart) => cartRequest(customerId, cart)) },
      { timeoutMs },
    );
    // A result holds a decision exactly when its status is OK.
    return results.map(({ status, decision }) =>
      decision
        ? { decision, source: "tierline" }
        : fallback(`${codeToString(status?.code ?? Code.Unknown)}: ${status?.message}`),
    );
  } catch (error) {
    return carts.map(() => fallback(why(error)));
  }
}

/** What the checkout page shows for one cart. */
function view(cart: Cart, { decision, source }: Outcome) {
  const perk = (code: string) => decision.perks.find((p) => p.code === code);
  const loyalty = perk("loyalty-multiplier")?.value;
  return {
    name: cart.name,
    total: `${(Number(cart.totalMinor) / 100).toFixed(2)} ${CURRENCY}`,
    source,
    tier: decision.tier,
    freeShipping: perk("free-shipping") !== undefined,
    // A percentage of the usual points: 300 is triple points.
    loyaltyMultiplier: loyalty?.case === "percent" ? loyalty.value / 100 : 1,
    perks: decision.perks.map((p) => p.code),
  };
}

/** The command line, checked: a bad value is one line naming the option and what is allowed. */
function options() {
  try {
    const { values } = parseArgs({
      options: {
        customer: { type: "string", default: "c000042" },
        url: { type: "string", default: "http://127.0.0.1:8080" },
        token: { type: "string" },
        "timeout-ms": { type: "string", default: String(TIMEOUT_MS) },
        help: { type: "boolean", short: "h" },
      },
    });
    const timeoutMs = Number(values["timeout-ms"]);
    if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
      const allowed = "must be a whole number of milliseconds above 0";
      throw new Error(`--timeout-ms ${values["timeout-ms"]}: ${allowed}`);
    }
    return { ...values, timeoutMs };
  } catch (error) {
    console.error(`${error instanceof Error ? error.message : error}\n${USAGE}`);
    process.exit(2);
  }
}

async function main(): Promise<void> {
  const { customer, url, token, timeoutMs, help } = options();
  if (help) {
    console.log(USAGE);
    return;
  }
  const transport = createConnectTransport({
    baseUrl: url,
    // HTTP/1.1 goes through any proxy; the service speaks HTTP/2 too ("2": one connection
    // for every call, which suits a busy service).
    httpVersion: "1.1",
    // Protobuf's binary encoding, as gRPC sends it: smaller and faster to read than JSON
    // (false sends the JSON that curl shows).
    useBinaryFormat: true,
    // The token on every call, as the service expects it: over HTTP, callers name themselves
    // with tokens.
    interceptors: token
      ? [
          (next) => (request) => {
            request.header.set("authorization", `Bearer ${token}`);
            return next(request);
          },
        ]
      : [],
  });
  const client = createClient(EntitlementService, transport);

  // The page's cart and the saved carts at once: the page waits for the slower, at most
  // timeoutMs.
  const started = performance.now();
  const [cart, saved] = await Promise.all([
    decideCart(client, customer, CART, timeoutMs),
    decideCarts(client, customer, SAVED_CARTS, timeoutMs),
  ]);
  const elapsedMs = performance.now() - started;

  const page = {
    customer,
    cart: view(CART, cart),
    savedCarts: SAVED_CARTS.map((c, index) => view(c, saved[index])),
  };
  console.log(JSON.stringify(page, null, 2));
  console.error(`answered in ${elapsedMs.toFixed(1)} ms`);
}

await main();
