// The Vercel AI SDK (`ai` + `@ai-sdk/openai`) against /openai/v1 with a client-side tool:
//   node ai_sdk_tools.mjs BASE_URL TOKEN [CASE...]
// CASEs: chat (generateText over Chat Completions), responses (generateText over the Responses
// API), chat-stream (streamText over Chat Completions); the default is those three.
// responses-stream (streamText over the Responses API) runs only when named.
// The echo model calls get_weather as the prompt says, the SDK runs the tool and sends its
// result back, and the model answers "Echo: " and the result. Prints one JSON line per case,
// then "ai sdk ok"; exits non-zero on any mismatch.
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, isStepCount, streamText, tool } from "ai";
import { z } from "zod";
import assert from "node:assert/strict";

const [base, key, ...named] = process.argv.slice(2);
const cases = named.length ? named : ["chat", "responses", "chat-stream"];
const openai = createOpenAI({ baseURL: `${base}/openai/v1`, apiKey: key });

const tools = {
  get_weather: tool({
    description: "Weather in a city",
    inputSchema: z.object({ city: z.string() }),
    execute: async ({ city }) => `sunny in ${city}`,
  }),
};
const request = {
  temperature: 0,
  maxRetries: 0,
  tools,
  stopWhen: isStepCount(3),
  prompt: 'call get_weather {"city": "Lisbon"}',
};

// What a run gave, checked the same way for every case.
function check(name, { text, steps }) {
  const calls = steps.flatMap((s) => s.toolCalls).map((c) => ({ id: c.toolCallId, name: c.toolName, input: c.input }));
  const results = steps.flatMap((s) => s.toolResults).map((r) => r.output);
  console.log(JSON.stringify({ case: name, text, steps: steps.length, finish: steps.map((s) => s.finishReason), calls, results }));
  assert.equal(steps.length, 2, `${name}: a tool step, then the answer`);
  assert.equal(steps[0].finishReason, "tool-calls", name);
  assert.equal(calls.length, 1, name);
  assert.equal(calls[0].name, "get_weather", name);
  assert.deepEqual(calls[0].input, { city: "Lisbon" }, name);
  assert.deepEqual(results, ["sunny in Lisbon"], name);
  assert.equal(text, "Echo: sunny in Lisbon", name);
}

async function streamed(model) {
  // A failed call arrives as an "error" part (and is not thrown by the stream): rethrown here.
  const result = streamText({ model, ...request, onError: () => {} });
  let text = "";
  const types = new Set();
  for await (const part of result.fullStream) {
    types.add(part.type);
    if (part.type === "error") throw part.error;
    if (part.type === "text-delta") text += part.text;
  }
  assert.ok(types.has("tool-call") && types.has("tool-result"), [...types].join(","));
  assert.equal(text, await result.text, "the deltas add up to the text");
  return { text: await result.text, steps: await result.steps };
}

for (const name of cases) {
  switch (name) {
    case "chat":
      check(name, await generateText({ model: openai.chat("echo"), ...request }));
      break;
    case "responses":
      check(name, await generateText({ model: openai.responses("echo"), ...request }));
      break;
    case "chat-stream":
      check(name, await streamed(openai.chat("echo")));
      break;
    case "responses-stream":
      check(name, await streamed(openai.responses("echo")));
      break;
    default:
      throw new Error(`unknown case ${name}`);
  }
}
console.log("ai sdk ok");
