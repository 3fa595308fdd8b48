// Compiled with `tsc --strict` against the types openapi-typescript generates from
// /openapi.json (tests/contract.rs), then run against the server: sets metadata of several
// shapes on a thread and a message and reads them back through the generated types.
import type { components } from "./schema";

type CreateThread = components["schemas"]["CreateThreadBody"];
type Thread = components["schemas"]["ThreadDto"];
type Append = components["schemas"]["AppendMessageBody"];
type Message = components["schemas"]["MessageDto"];
type Metadata = NonNullable<Thread["metadata"]>;

// Node's `process`, declared here instead of installing @types/node for one line.
declare const process: { argv: string[] };
const [base, token] = process.argv.slice(2);

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
}

function text(metadata: Metadata | null | undefined, key: string): string | undefined {
    const value = metadata?.[key];
    return typeof value === "string" ? value : undefined;
}

const metadata: Metadata = {
    via: "x",
    count: 3,
    flags: [true, null, "a"],
    nested: { source: { url: "https://example.com/doc", score: 0.9 } },
};
const create: CreateThread = { title: "typed", metadata };
const thread = await call<Thread>("POST", "/v1/threads", create);
if (text(thread.metadata, "via") !== "x") throw new Error("thread metadata lost");

const append: Append = { content: "hello", metadata: { rag: [{ doc: "d1", page: 2 }] } };
const message = await call<Message>("POST", `/v1/threads/${thread.id}/messages`, append);
const rag = message.metadata?.["rag"];
if (!Array.isArray(rag) || rag.length !== 1) throw new Error("message metadata lost");

const read = await call<Thread>("GET", `/v1/threads/${thread.id}`);
const nested = read.metadata?.["nested"];
if (typeof nested !== "object" || nested === null) throw new Error("nested metadata lost");
console.log("typescript metadata ok");
