// The official `openai` npm package against /openai/v1 (run by tests/openai.rs):
//   node openai.mjs BASE_URL TOKEN
// A response, a branch with previous_response_id, a stream, a conversation paged with the
// SDK's iterator, and an error as the SDK's exception class. Exits non-zero on any mismatch.
import OpenAI from "openai";
import assert from "node:assert/strict";

const [base, key] = process.argv.slice(2);
const client = new OpenAI({ baseURL: `${base}/openai/v1`, apiKey: key, maxRetries: 0 });

const models = [];
for await (const m of client.models.list()) models.push(m.id);
assert.deepEqual(models, ["echo"]);

const r1 = await client.responses.create({ model: "echo", input: "from node", metadata: { sdk: "node" } });
assert.equal(r1.status, "completed");
assert.equal(r1.output_text, "Echo: from node");
assert.deepEqual(r1.metadata, { sdk: "node" });
const r2 = await client.responses.create({ model: "echo", input: "next", previous_response_id: r1.id });
const r3 = await client.responses.create({ model: "echo", input: "branch", previous_response_id: r1.id });
assert.equal(r2.previous_response_id, r1.id);
assert.equal(r3.output_text, "Echo: branch");

const stream = await client.responses.create({ model: "echo", input: "streamed", previous_response_id: r3.id, stream: true });
let text = "";
let last;
let previous = -1;
for await (const event of stream) {
  assert.ok(event.sequence_number > previous, "sequence numbers increase");
  previous = event.sequence_number;
  if (event.type === "response.output_text.delta") text += event.delta;
  last = event;
}
assert.equal(text, "Echo: streamed");
assert.equal(last.type, "response.completed");
assert.equal((await client.responses.retrieve(last.response.id)).output_text, "Echo: streamed");

const conv = await client.conversations.create({
  metadata: { from: "node" },
  items: [1, 2, 3, 4, 5].map((i) => ({ type: "message", role: "user", content: `n${i}` })),
});
const seen = [];
for await (const item of client.conversations.items.list(conv.id, { limit: 2, order: "asc" })) {
  seen.push(item.content[0].text);
}
assert.deepEqual(seen, ["n1", "n2", "n3", "n4", "n5"]);

await assert.rejects(
  client.responses.retrieve("resp_" + "0".repeat(64)),
  (e) => e instanceof OpenAI.NotFoundError && e.status === 404,
);
// Sampling settings and what the SDKs send alongside are accepted; a hosted tool is refused,
// naming the parameter.
const sampled = await client.responses.create({
  model: "echo", input: "warm", temperature: 0.2, top_p: 0.9, include: [], tools: [],
});
assert.equal(sampled.output_text, "Echo: warm");
await assert.rejects(
  client.responses.create({ model: "echo", input: "x", tools: [{ type: "web_search" }] }),
  (e) => e instanceof OpenAI.BadRequestError && e.param === "tools",
);
// A function tool over Responses: the model calls it, the output goes back with
// previous_response_id, and the answer arrives.
const weather = {
  type: "function", name: "get_weather", description: "Weather in a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
};
const asked = await client.responses.create({
  model: "echo", input: 'call get_weather {"city": "Oslo"}', tools: [weather], temperature: 0,
});
const call = asked.output.find((i) => i.type === "function_call");
assert.ok(call && call.name === "get_weather", JSON.stringify(asked.output));
assert.deepEqual(JSON.parse(call.arguments), { city: "Oslo" });
const answered = await client.responses.create({
  model: "echo", previous_response_id: asked.id, tools: [weather],
  input: [{ type: "function_call_output", call_id: call.call_id, output: "snow" }],
});
assert.equal(answered.output_text, "Echo: snow");
// The same over Chat Completions.
const chatTools = [{ type: "function", function: { name: weather.name, parameters: weather.parameters } }];
const first = await client.chat.completions.create({
  model: "echo", tools: chatTools, messages: [{ role: "user", content: 'call get_weather {"city": "Rome"}' }],
});
const toolCall = first.choices[0].message.tool_calls[0];
assert.equal(first.choices[0].finish_reason, "tool_calls");
const second = await client.chat.completions.create({
  model: "echo", tools: chatTools,
  messages: [
    { role: "user", content: 'call get_weather {"city": "Rome"}' },
    first.choices[0].message,
    { role: "tool", tool_call_id: toolCall.id, content: "sun" },
  ],
});
assert.equal(second.choices[0].message.content, "Echo: sun");
console.log("node sdk ok", r1.id);
